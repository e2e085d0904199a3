// Interop: the Node `ws` client against a libws echo server.
// Usage: NODE_PATH=<folder with ws> node node_client.js LABEL ws://127.0.0.1:PORT/
// One "PASS/FAIL <label> <check>" line per check; exit 1 on any failure; bounded waits.
'use strict';
const WebSocket = require('ws');

const [label, url] = process.argv.slice(2);
const TIMEOUT = 20000;
const MIB = 1 << 20;
let failed = 0;

function report(name, ok, why) {
    console.log(`${ok ? 'PASS' : 'FAIL'} ${label} ${name}${ok ? '' : ': ' + why}`);
    if (!ok) failed++;
}

function pattern(n, seed) {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
    return b;
}

function withTimeout(p, what) {
    let t;
    const guard = new Promise((_, reject) => {
        t = setTimeout(() => reject(new Error(`timeout: ${what}`)), TIMEOUT);
    });
    return Promise.race([p, guard]).finally(() => clearTimeout(t));
}

function open() {
    const ws = new WebSocket(url, { maxPayload: 64 * MIB, perMessageDeflate: true });
    const queue = [];
    let waiting = null;
    ws.on('message', (data, isBinary) => {
        const m = { data: Buffer.from(data), isBinary };
        if (waiting) { const w = waiting; waiting = null; w(m); } else queue.push(m);
    });
    ws.next = () => queue.length ? Promise.resolve(queue.shift())
        : new Promise((resolve) => { waiting = resolve; });
    ws.closed = new Promise((resolve) => ws.on('close', (code, reason) =>
        resolve({ code, reason: reason.toString() })));
    return withTimeout(new Promise((resolve, reject) => {
        ws.once('open', () => resolve(ws));
        ws.once('error', reject);
    }), 'open');
}

async function echo(ws, name, payload, binary) {
    ws.send(payload, { binary });
    const m = await withTimeout(ws.next(), name);
    const want = Buffer.from(payload);
    report(name, m.isBinary === binary && m.data.equals(want),
           `echo differs (${m.data.length} vs ${want.length} bytes)`);
}

async function messages() {
    const ws = await open();
    // perMessageDeflate: true offers it; libws's echo servers accept it.
    report(`permessage-deflate agreed (${ws.extensions})`,
           ws.extensions.split(',').some((e) => e.trim() === 'permessage-deflate'),
           `extensions '${ws.extensions}'`);
    await echo(ws, 'text', 'hello from ws \u00b5\u00df\u20ac\u{1F600}', false);
    await echo(ws, 'binary', pattern(4096, 3), true);
    await echo(ws, '1MiB text', 'abcdefghijklmnop'.repeat(MIB / 16), false);
    await echo(ws, '1MiB binary', pattern(MIB, 11), true);
    // fin: false keeps the message open; the last part closes it.
    const parts = ['frag-one ', 'frag-two \u00e9', ' frag-three'];
    parts.forEach((p, i) => ws.send(p, { binary: false, fin: i === parts.length - 1 }));
    let m = await withTimeout(ws.next(), 'fragmented text');
    report('fragmented text', !m.isBinary && m.data.toString() === parts.join(''),
           'echo differs');
    const bparts = [0, 1, 2, 3, 4].map((k) => pattern(1000, k));
    bparts.forEach((p, i) => ws.send(p, { binary: true, fin: i === bparts.length - 1 }));
    m = await withTimeout(ws.next(), 'fragmented binary');
    report('fragmented binary', m.isBinary && m.data.equals(Buffer.concat(bparts)),
           'echo differs');
    const pong = new Promise((resolve) => ws.once('pong', (d) => resolve(Buffer.from(d))));
    ws.ping(Buffer.from('node-ping'));
    const pd = await withTimeout(pong, 'pong');
    report('ping/pong', pd.toString() === 'node-ping', `pong payload ${pd}`);
    ws.close(1000, 'done');
    const c = await withTimeout(ws.closed, 'close');
    report('close 1000', c.code === 1000, `server answered ${c.code}`);
}

async function closeCode(code) {
    const ws = await open();
    ws.close(code, 'bye');
    const c = await withTimeout(ws.closed, `close ${code}`);
    report(`close ${code}`, c.code === code, `server answered ${c.code}`);
}

(async () => {
    try {
        await messages();
    } catch (e) {
        report('messages', false, String(e));
    }
    for (const code of [1001, 3000, 4999]) {
        try {
            await closeCode(code);
        } catch (e) {
            report(`close ${code}`, false, String(e));
        }
    }
    process.exit(failed ? 1 : 0);
})();

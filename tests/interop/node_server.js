// Interop: a Node `ws` server that `wsc --echo` (libws as a client) connects to.
// Prints "listening on 127.0.0.1:PORT" first; on the first connection sends text, binary,
// 1 MiB and fragmented messages and a ping, checks each echo, closes with 3002 and checks
// that the client echoed it. One "PASS/FAIL node-server/wsc <check>" line per check; exits
// when done or after 60 s.
'use strict';
const WebSocket = require('ws');

const LABEL = 'node-server/wsc';
const TIMEOUT = 20000;
const MIB = 1 << 20;
let failed = 0;

function report(name, ok, why) {
    console.log(`${ok ? 'PASS' : 'FAIL'} ${LABEL} ${name}${ok ? '' : ': ' + why}`);
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

async function checks(ws) {
    const queue = [];
    let waiting = null;
    ws.on('message', (data, isBinary) => {
        const m = { data: Buffer.from(data), isBinary };
        if (waiting) { const w = waiting; waiting = null; w(m); } else queue.push(m);
    });
    const next = (what) => withTimeout(queue.length ? Promise.resolve(queue.shift())
        : new Promise((resolve) => { waiting = resolve; }), what);
    const closed = new Promise((resolve) => ws.on('close', (code) => resolve(code)));

    async function echo(name, payload, binary) {
        ws.send(payload, { binary });
        const m = await next(name);
        const want = Buffer.from(payload);
        report(name, m.isBinary === binary && m.data.equals(want),
               `echo differs (${m.data.length} vs ${want.length} bytes)`);
    }
    await echo('text', 'hello from ws \u00b5\u00df\u20ac\u{1F600}', false);
    await echo('binary', pattern(4096, 1), true);
    await echo('1MiB text', 'ponmlkjihgfedcba'.repeat(MIB / 16), false);
    await echo('1MiB binary', pattern(MIB, 13), true);
    const parts = ['frag-one ', 'frag-two \u00e9', ' frag-three'];
    parts.forEach((p, i) => ws.send(p, { binary: false, fin: i === parts.length - 1 }));
    let m = await next('fragmented text');
    report('fragmented text', !m.isBinary && m.data.toString() === parts.join(''),
           'echo differs');
    const bparts = [0, 1, 2, 3, 4].map((k) => pattern(1000, k));
    bparts.forEach((p, i) => ws.send(p, { binary: true, fin: i === bparts.length - 1 }));
    m = await next('fragmented binary');
    report('fragmented binary', m.isBinary && m.data.equals(Buffer.concat(bparts)),
           'echo differs');
    const pong = new Promise((resolve) => ws.once('pong', (d) => resolve(Buffer.from(d))));
    ws.ping(Buffer.from('server-ping'));
    const pd = await withTimeout(pong, 'pong');
    report('ping/pong', pd.toString() === 'server-ping', `pong payload ${pd}`);
    ws.close(3002, 'server done');
    const code = await withTimeout(closed, 'close');
    report('close 3002', code === 3002, `client answered ${code}`);
}

const wss = new WebSocket.Server({ host: '127.0.0.1', port: 0, maxPayload: 64 * MIB,
                                   perMessageDeflate: true });
const guard = setTimeout(() => {
    report('connection', false, 'no client finished within 60 s');
    process.exit(1);
}, 60000);
wss.on('listening', () => console.log(`listening on 127.0.0.1:${wss.address().port}`));
wss.once('connection', async (ws, req) => {
    // wsc offers permessage-deflate by default; perMessageDeflate: true accepts it.
    report(`permessage-deflate agreed (offer: ${req.headers['sec-websocket-extensions']})`,
           ws.extensions.split(',').some((e) => e.trim() === 'permessage-deflate'),
           `extensions '${ws.extensions}'`);
    try {
        await checks(ws);
    } catch (e) {
        report('messages', false, String(e));
    }
    clearTimeout(guard);
    wss.close();
    process.exit(failed ? 1 : 0);
});

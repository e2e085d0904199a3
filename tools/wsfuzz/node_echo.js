// An echo server on Node's `ws` package (npm install ws), for wsfuzz (peers.sh). Defaults as
// the package ships them (maxPayload 100 MiB, perMessageDeflate off on a server; on with
// DEFLATE=1, for wsfuzz --deflate). Prints "listening on 127.0.0.1:PORT" first; exits after
// LIFETIME seconds (default 1800).
'use strict';
const WebSocket = require('ws');
const wss = new WebSocket.Server({ host: '127.0.0.1', port: 0,
                                   perMessageDeflate: process.env.DEFLATE === '1' });
wss.on('listening', () => {
    const v = require('ws/package.json').version;
    console.log(`listening on 127.0.0.1:${wss.address().port} (ws ${v}, node ${process.version})`);
});
wss.on('connection', (ws) => {
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    ws.on('error', () => {});
});
setTimeout(() => process.exit(0), 1000 * Number(process.env.LIFETIME || 1800)).unref();

// An echo server on Node `ws` (npm) for wsconform's peer runs (peers.sh): perMessageDeflate on,
// messages up to 64 MiB (group 9 sends 16 MiB). Prints "listening on 127.0.0.1:PORT".
'use strict';
const WebSocket = require('ws');
const port = Number(process.argv[2] || 0);
const wss = new WebSocket.Server({ host: '127.0.0.1', port, perMessageDeflate: true,
                                   maxPayload: 64 * 1024 * 1024 });
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  ws.on('error', () => {});
});
wss.on('listening', () => console.log('listening on 127.0.0.1:' + wss.address().port));
setTimeout(() => process.exit(0), 900 * 1000).unref();

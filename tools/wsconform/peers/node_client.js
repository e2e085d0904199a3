// An Autobahn-style client test script on Node `ws`, for wsconform's server mode: the URL
// protocol (/getCaseCount, /runCase?case=N&agent=A echoing every message, then
// /updateReports?agent=A&shutdownOnComplete=true).   node node_client.js ws://127.0.0.1:9001 AGENT
'use strict';
const WebSocket = require('ws');
const [base, agent] = process.argv.slice(2);
const opts = { perMessageDeflate: true, maxPayload: 64 * 1024 * 1024, handshakeTimeout: 20000 };

function open(url, onMessage) {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, opts);
    const timer = setTimeout(() => ws.terminate(), 600 * 1000);
    ws.on('message', (data, isBinary) => onMessage(ws, data, isBinary));
    ws.on('close', () => { clearTimeout(timer); resolve(); });
    ws.on('error', () => {});
  });
}

(async () => {
  let count = 0;
  await open(base + '/getCaseCount', (ws, data) => { count = Number(data.toString()); });
  console.log(count + ' cases');
  for (let i = 1; i <= count; i++) {
    await open(`${base}/runCase?case=${i}&agent=${agent}`,
               (ws, data, isBinary) => ws.send(data, { binary: isBinary }));
  }
  await open(`${base}/updateReports?agent=${agent}&shutdownOnComplete=true`, () => {});
})();

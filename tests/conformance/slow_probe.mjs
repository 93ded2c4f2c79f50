// Slow-client probe for tests/conformance/measure_runtimes.sh (plain JS so Node runs it as is).
// Usage: node slow_probe.mjs <host> <port> <mode> <windowS>
//   idle:    send a partial request head, then nothing
//   trickle: send a partial head, then one header line every 2 s
//   body:    send a full head with Content-Length: 100000, then 1 body byte every 2 s
// Prints "<mode> closed_after_s=<s>" or "<mode> open_after_s=<windowS>" (never closed).
import { createConnection } from "node:net";

const [host, portText, mode, windowText] = process.argv.slice(2);
const windowS = Number(windowText);
const DRIP_MS = 2_000;
const started = Date.now();
const socket = createConnection({ host, port: Number(portText) });
let drip;
let reported = false;
const done = (text) => {
  if (reported) return;
  reported = true;
  clearInterval(drip);
  clearTimeout(deadline);
  socket.destroy();
  console.log(`${mode} ${text}`);
};
const deadline = setTimeout(() => done(`open_after_s=${windowS}`), windowS * 1000);
socket.on("connect", () => {
  const head = `POST /echo-json HTTP/1.1\r\nHost: ${host}\r\n`;
  if (mode === "body") {
    socket.write(`${head}Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n`);
    drip = setInterval(() => socket.write(" "), DRIP_MS);
  } else {
    socket.write(head);
    if (mode === "trickle") drip = setInterval(() => socket.write("X-Slow: 1\r\n"), DRIP_MS);
  }
});
socket.on("data", () => {}); // a 408/400 answer is fine: we wait for the close
const closed = () => done(`closed_after_s=${((Date.now() - started) / 1000).toFixed(1)}`);
socket.on("close", closed);
socket.on("error", closed);

// Reads a Redis stream from its start with XRANGE (COUNT per call), as a catch-up consumer, with
// the npm `redis` client, for scripts/bench-peers.
//
//   node redis_scan.mjs --port 6379 --key bench --messages 1000000 --count 1000
// Prints one JSON object: {"messages", "seconds", "msgs_per_s", "mb_per_s"}.
import { createClient } from "redis";

const o = { port: 6379, key: "bench", messages: 1000000, count: 1000 };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i += 2) o[argv[i].replace(/^--/, "")] = argv[i + 1];
for (const k of ["port", "messages", "count"]) o[k] = Number(o[k]);

const client = createClient({ socket: { host: "127.0.0.1", port: o.port } });
await client.connect();
let from = "-";
let count = 0;
let bytes = 0;
const start = performance.now();
while (count < o.messages) {
  const entries = await client.sendCommand(["XRANGE", o.key, from, "+", "COUNT", String(o.count)]);
  if (entries.length === 0) break;
  for (const [, fields] of entries) {
    for (let i = 1; i < fields.length; i += 2) bytes += fields[i].length;
  }
  count += entries.length;
  from = "(" + entries[entries.length - 1][0];
}
const seconds = (performance.now() - start) / 1000;
await client.quit();
console.log(JSON.stringify({ messages: count, seconds, msgs_per_s: count / seconds,
                             mb_per_s: bytes / seconds / 1e6 }));

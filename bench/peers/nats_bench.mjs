// Drives NATS JetStream with its own client (the npm `nats` package) for scripts/bench-peers.
//
//   node nats_bench.mjs produce --url nats://127.0.0.1:4222 --messages 1000000 --size 100 --window 256
//   node nats_bench.mjs consume --url nats://127.0.0.1:4222 --messages 1000000
//
// produce: creates stream BENCH (file storage, subject "bench") and publishes with JetStream
//          acknowledgements, at most `window` publishes unacknowledged (async publish).
//          Latency = publish call to PubAck, per message.
// consume: reads the stream from its start with an ordered consumer (push, no acks): catch-up.
// Prints one JSON object: {"messages", "seconds", "msgs_per_s", "mb_per_s", "p50_us", "p99_us"}.
import { connect, StorageType } from "nats";

function parse(argv) {
  const o = { mode: argv[0], url: "nats://127.0.0.1:4222", messages: 1000000, size: 100, window: 256 };
  for (let i = 1; i < argv.length; i += 2) o[argv[i].replace(/^--/, "")] = argv[i + 1];
  for (const k of ["messages", "size", "window"]) o[k] = Number(o[k]);
  return o;
}

function percentile(sorted, p) {
  if (sorted.length === 0) return 0;
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1];
}

async function produce(nc, o) {
  const jsm = await nc.jetstreamManager();
  await jsm.streams.add({ name: "BENCH", subjects: ["bench"], storage: StorageType.File });
  const js = nc.jetstream();
  const payload = new Uint8Array(o.size).map((_, i) => (i * 31 + 7) & 0xff);
  const latency = new Float64Array(o.messages);
  const pending = [];
  let head = 0;
  const start = performance.now();
  for (let i = 0; i < o.messages; i++) {
    if (pending.length - head >= o.window) await pending[head++];
    const sent = performance.now();
    pending.push(js.publish("bench", payload).then(() => { latency[i] = performance.now() - sent; }));
    if (head > 4096) { pending.splice(0, head); head = 0; }
  }
  await Promise.all(pending.slice(head));
  const seconds = (performance.now() - start) / 1000;
  latency.sort();
  return { messages: o.messages, seconds, bytes: o.messages * o.size,
           p50_us: percentile(latency, 50) * 1000, p99_us: percentile(latency, 99) * 1000 };
}

async function consume(nc, o) {
  const js = nc.jetstream();
  const consumer = await js.consumers.get("BENCH");  // an ordered consumer from the start
  const start = performance.now();
  const messages = await consumer.consume({ max_messages: 10000 });
  let count = 0;
  let bytes = 0;
  for await (const m of messages) {
    bytes += m.data.length;
    if (++count >= o.messages) break;
  }
  const seconds = (performance.now() - start) / 1000;
  return { messages: count, seconds, bytes, p50_us: null, p99_us: null };
}

const o = parse(process.argv.slice(2));
const nc = await connect({ servers: o.url, maxPingOut: 100, pingInterval: 60000 });
const r = o.mode === "produce" ? await produce(nc, o) : await consume(nc, o);
await nc.close();
r.msgs_per_s = r.messages / r.seconds;
r.mb_per_s = r.bytes / r.seconds / 1e6;
console.log(JSON.stringify(r));

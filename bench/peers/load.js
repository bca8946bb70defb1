// Load runner for bench/gateway-load.ts, run in its own process so the load generator never shares an
// event loop with what it measures. argv[2] is a JSON config: { url, connections, duration, headers,
// body, unique }. With `unique`, every request's body gets a fresh `__UNIQUE__` (via autocannon's
// `requests[].setupRequest`), so a caching proxy never sees the same request twice. Prints autocannon's
// result as one JSON line on stdout.
import autocannon from 'autocannon';

const config = JSON.parse(process.argv[2]);
const nonce = `${process.pid}-${Date.now()}`;
let n = 0;
const request = { method: 'POST', path: new URL(config.url).pathname, headers: config.headers, body: config.body.replace('__UNIQUE__', 'fixed') };
if (config.unique) request.setupRequest = (req) => ({ ...req, body: config.body.replace('__UNIQUE__', `${nonce}-${n++}`) });
const result = await autocannon({ url: config.url, connections: config.connections, duration: config.duration, requests: [request] });
process.stdout.write(JSON.stringify(result) + '\n');

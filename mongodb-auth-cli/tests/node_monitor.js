// The Node driver's monitor streams its heartbeats from `mongodb-auth serve` (the awaitable
// hello with exhaustAllowed, answered with moreToCome replies) for SECONDS seconds, with a
// SCRAM login pinging beside it: no heartbeat fails, most are awaited, and the pool is never
// cleared.
//
// Usage: node node_monitor.js ADDRESS SECONDS
// Prints one line per check ("ok: ..." or "FAILED: ...") and exits non-zero if any fails.

'use strict';

const { MongoClient } = require('mongodb');

const [address, seconds] = process.argv.slice(2);
const failures = [];

function check(name, ok, detail) {
  const shown = detail === undefined ? '' : `: ${JSON.stringify(detail)}`;
  console.log(`${ok ? 'ok' : 'FAILED'}: ${name}${shown}`);
  if (!ok) failures.push(name);
}

async function main() {
  const client = new MongoClient(`mongodb://alice:pencil@${address}/?authSource=admin`, {
    heartbeatFrequencyMS: 500,
    serverMonitoringMode: 'stream',
    directConnection: true,
  });
  const seen = { succeeded: 0, awaited: 0, failed: [], cleared: 0, created: 0, poolsClosed: 0 };
  client.on('serverHeartbeatSucceeded', (event) => {
    seen.succeeded += 1;
    if (event.awaited) seen.awaited += 1;
  });
  client.on('serverHeartbeatFailed', (event) => seen.failed.push(String(event.failure)));
  client.on('connectionPoolCleared', () => { seen.cleared += 1; });
  client.on('connectionCreated', () => { seen.created += 1; });
  client.on('connectionPoolClosed', () => { seen.poolsClosed += 1; });
  await client.connect();
  const until = Date.now() + Number(seconds) * 1000;
  let pings = 0;
  while (Date.now() < until) {
    await client.db('admin').command({ ping: 1 });
    pings += 1;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  await client.close();
  check('no heartbeat failed', seen.failed.length === 0, seen.failed.slice(0, 3));
  // Streaming: after the first, the heartbeats are the server's replies of the stream.
  check('the heartbeats were streamed', seen.awaited >= Number(seconds), seen);
  // The pool's events reach this client's listeners (closing it closes the pool), so a clear
  // would have been seen.
  check("the pool's events were seen", seen.created >= 1 && seen.poolsClosed >= 1, seen);
  check('the pool was never cleared', seen.cleared === 0, seen.cleared);
  check('the pings went on', pings >= Number(seconds), pings);
  process.exit(failures.length === 0 ? 0 : 1);
}

main().catch((error) => {
  console.log(`FAILED: ${error}`);
  process.exit(1);
});

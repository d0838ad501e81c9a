// The Node driver declares the stable API to `mongodb-auth serve --require-api-version`.
//
// The server refuses every command that declares no API version, so a client that logs in and
// runs commands has sent `apiVersion` with each of them, its handshake and SCRAM login
// included; with `strict`, a command outside version 1 is refused (323), and so would the
// legacy `isMaster` be, so the handshake was `hello`.
//
// Usage: node node_stable_api.js ADDRESS
// Prints one line per check ("ok: ..." or "FAILED: ...") and exits non-zero if any fails.

'use strict';

const { MongoClient } = require('mongodb');

const [address] = process.argv.slice(2);
const uri = `mongodb://alice:pencil@${address}/?authSource=admin&directConnection=true`;
const failures = [];

function check(name, ok, detail) {
  const shown = detail === undefined ? '' : `: ${JSON.stringify(detail)}`;
  console.log(`${ok ? 'ok' : 'FAILED'}: ${name}${shown}`);
  if (!ok) failures.push(name);
}

function client(serverApi) {
  const options = { serverSelectionTimeoutMS: 3000, connectTimeoutMS: 3000 };
  return new MongoClient(uri, serverApi ? { ...options, serverApi } : options);
}

async function main() {
  const strict = client({ version: '1', strict: true, deprecationErrors: true });
  try {
    await strict.db('admin').command({ ping: 1 });
    const things = strict.db('stable').collection('node');
    await things.insertMany([0, 1, 2, 3, 4].map((n) => ({ n })));
    const found = (await things.find({}, { projection: { _id: 0 } }).toArray()).map((d) => d.n);
    check('a strict client logs in, inserts and finds', found.join() === '0,1,2,3,4', found);
  } catch (error) {
    check('a strict client logs in, inserts and finds', false, String(error));
  }
  try {
    await strict.db('admin').command({ connectionStatus: 1 });
    check('strict refuses a command outside version 1', false, 'connectionStatus ran');
  } catch (error) {
    check('strict refuses a command outside version 1', error.code === 323, error.code);
  }
  await strict.close();

  const declared = client({ version: '1' });
  try {
    const status = await declared.db('admin').command({ connectionStatus: 1 });
    const users = status.authInfo.authenticatedUsers.map((u) => `${u.user}@${u.db}`);
    check('a client that declares version 1 is alice', users.join() === 'alice@admin', users);
  } catch (error) {
    check('a client that declares version 1 is alice', false, String(error));
  }
  await declared.close();

  const undeclared = client(null);
  try {
    await undeclared.db('admin').command({ ping: 1 });
    check('a client that declares nothing is refused', false, 'ping ran');
  } catch (error) {
    const said = String(error);
    const refused = said.includes('apiVersion');
    check('a client that declares nothing is refused', refused, said.slice(0, 300));
  }
  await undeclared.close();
  process.exit(failures.length === 0 ? 0 : 1);
}

main().catch((error) => {
  console.log(`FAILED: ${error}`);
  process.exit(1);
});

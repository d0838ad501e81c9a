// The Node driver sets fail points on `mongodb-auth serve --enable-test-commands` and sees them,
// logged in with MONGODB-OIDC; and inserts three documents and finds them.
//
// Usage: node node_fail_points.js WITH_TEST_COMMANDS_ADDRESS WITHOUT_ADDRESS TOKEN_FILE
// Prints one line per check ("ok: ..." or "FAILED: ...") and exits non-zero if any fails.

'use strict';

const fs = require('fs');
const { MongoClient, MongoNetworkError, MongoServerError } = require('mongodb');

const [withAddress, withoutAddress, tokenFile] = process.argv.slice(2);
const failures = [];

function check(name, ok, detail) {
  const shown = detail === undefined ? '' : `: ${typeof detail === 'string' ? detail : JSON.stringify(detail)}`;
  console.log(`${ok ? 'ok' : 'FAILED'}: ${name}${shown}`);
  if (!ok) failures.push(name);
}

function callback() {
  const counted = { calls: 0 };
  counted.fetch = async () => {
    counted.calls += 1;
    return { accessToken: fs.readFileSync(tokenFile, 'utf8').trim() };
  };
  return counted;
}

function client(address, counted) {
  return new MongoClient(`mongodb://${address}/?authMechanism=MONGODB-OIDC`, {
    authMechanismProperties: { OIDC_CALLBACK: counted.fetch },
    retryReads: false,
    retryWrites: false,
    serverSelectionTimeoutMS: 5000,
    appName: 'node-fail-points',
  });
}

async function errorOf(f) {
  try {
    await f();
    return null;
  } catch (e) {
    return e;
  }
}

function describe(e) {
  return e === null ? 'none' : `${e.name} ${e.code ?? ''} ${e.message}`;
}

async function main() {
  const counted = callback();
  const c = client(withAddress, counted);
  const admin = c.db('admin');
  const failPoint = (mode, data) =>
    admin.command({ configureFailPoint: 'failCommand', mode, data });
  const things = c.db('test').collection('things');
  await things.drop().catch(() => {});
  await things.insertMany([1, 2, 3].map((i) => ({ _id: i, name: `thing ${i}` })));
  const found = (await things.find({}).toArray()).map((d) => d._id).sort();
  check('insertMany of 3, then find returns them', JSON.stringify(found) === '[1,2,3]', found);

  const calls = counted.calls;
  await failPoint({ times: 1 }, { failCommands: ['find'], errorCode: 391 });
  const again = await things.find({}).toArray();
  check('a find failing with 391 logs in again and succeeds', again.length === 3, again.length);
  check('the callback ran a second time', counted.calls === calls + 1, counted.calls - calls);

  await failPoint({ times: 1 }, { failCommands: ['find'], errorCode: 2 });
  const first = await errorOf(() => things.find({}).toArray());
  const second = await errorOf(() => things.find({}).toArray());
  check(
    'times: 1 fires once',
    first instanceof MongoServerError && first.code === 2 && second === null,
    `${describe(first)} / ${describe(second)}`,
  );

  await failPoint({ times: 1 }, { failCommands: ['find'], closeConnection: true });
  const closed = await errorOf(() => things.find({}).toArray());
  const after = await errorOf(() => things.find({}).toArray());
  check(
    'closeConnection closes the connection',
    closed instanceof MongoNetworkError && after === null,
    `${describe(closed)} / ${describe(after)}`,
  );

  await failPoint('alwaysOn', { failCommands: ['find'], errorCode: 2 });
  const one = await errorOf(() => things.find({}).toArray());
  const two = await errorOf(() => things.find({}).toArray());
  await admin.command({ configureFailPoint: 'failCommand', mode: 'off' });
  // The command the fail point held: off must clear it.
  const cleared = await errorOf(() => things.find({}).toArray());
  const fired = [one, two].every((e) => e instanceof MongoServerError && e.code === 2);
  check(
    'alwaysOn fires until off, and off clears it',
    fired && cleared === null,
    `${describe(one)} / ${describe(two)} / ${describe(cleared)}`,
  );

  const other = client(withoutAddress, callback());
  const refused = await errorOf(() =>
    other.db('admin').command({
      configureFailPoint: 'failCommand',
      mode: 'alwaysOn',
      data: { failCommands: ['find'], errorCode: 2 },
    }),
  );
  check(
    'without --enable-test-commands, configureFailPoint is CommandNotFound',
    refused instanceof MongoServerError && refused.code === 59,
    describe(refused),
  );
  await c.close();
  await other.close();
}

main()
  .catch((e) => {
    console.log(`FAILED: unexpected error: ${e.stack}`);
    failures.push('unexpected');
  })
  .finally(() => {
    console.log(`${failures.length} failure(s)`);
    process.exit(failures.length ? 1 : 0);
  });

// Compatibility of queue allocation: an ali-ons consumer (JavaScript, written by others) and a
// Holdfast C++ PushConsumer (tests/integration/push_consumer_process) in one clustering group
// split a topic's queues with no queue owned twice or not at all, and every message sent after the
// split is consumed once, by the owner of its queue. It starts its own `holdfast standalone`.
// Run with `ctest -L compat`, or by hand: HOLDFAST_BIN=build/bin/holdfast
// HOLDFAST_PUSH_CONSUMER=build/bin/push_consumer_process NODE_PATH=<node_modules> node ali_ons_mixed_group_test.js
'use strict';

const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const { Producer, Consumer, Message } = require('ali-ons');
const MQClientAPI = require('ali-ons/lib/mq_client_api');
const MQProducer = require('ali-ons/lib/producer/mq_producer');

const TOPIC = 'HoldfastMixedGroupTopic';
const GROUP = 'hf_compat_mixed';
const QUEUES = 8;
const MESSAGES = 400;
const WATCHDOG_MS = 200 * 1000;
const sleep = ms => new Promise(resolve => setTimeout(resolve, ms));
const quiet = { info() {}, debug() {}, warn() {}, error() {} };

async function freePorts(count) {
  const servers = [];
  for (let i = 0; i < count; i++) {
    const server = net.createServer();
    await new Promise((resolve, reject) => { server.once('error', reject); server.listen(0, '127.0.0.1', resolve); });
    servers.push(server);
  }
  const ports = servers.map(s => s.address().port);
  await Promise.all(servers.map(s => new Promise(resolve => s.close(resolve))));
  return ports;
}

// A child process that is ready when a stdout line starts with `ready`.
function startChild(bin, args, ready, logPath) {
  const log = fs.openSync(logPath, 'a');
  const child = spawn(bin, args, { stdio: [ 'ignore', 'pipe', log ] });
  fs.closeSync(log);
  const exited = new Promise(resolve => child.once('exit', (code, signal) => resolve({ code, signal })));
  let out = '';
  const line = new Promise((resolve, reject) => {
    child.stdout.on('data', chunk => {
      out += chunk.toString();
      const found = out.split('\n').find(l => l.startsWith(ready));
      if (found) resolve(found);
    });
    exited.then(st => reject(new Error(`${bin} exited before '${ready}' (${JSON.stringify(st)})`)));
    setTimeout(() => reject(new Error(`${bin}: no '${ready}' after 40 s`)), 40000).unref();
  });
  return { child, exited, line };
}

async function stopChild(c) {
  if (!c || c.child.exitCode !== null || c.child.signalCode !== null) return;
  c.child.kill('SIGTERM');
  const done = await Promise.race([ c.exited.then(() => true), sleep(15000).then(() => false) ]);
  if (!done) { c.child.kill('SIGKILL'); await c.exited; }
}

const children = [];
process.on('exit', () => { for (const c of children) if (c.child.exitCode === null) c.child.kill('SIGKILL'); });

async function waitFor(what, timeoutMs, predicate, describe) {
  const start = Date.now();
  for (;;) {
    if (await predicate()) return;
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}${describe ? `; ${describe()}` : ''}`);
    await sleep(200);
  }
}

async function main() {
  for (const v of [ 'HOLDFAST_BIN', 'HOLDFAST_PUSH_CONSUMER' ]) {
    assert.ok(process.env[v] && fs.existsSync(process.env[v]), `${v} must name a built binary`);
  }
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'holdfast-mixed-'));
  const [ nsPort, brokerPort, haPort ] = await freePorts(3);
  const nameSrv = `127.0.0.1:${nsPort}`;
  const brokerAddr = `127.0.0.1:${brokerPort}`;
  const broker = startChild(process.env.HOLDFAST_BIN, [ 'standalone', '--data', path.join(work, 'data'), '--host',
    '127.0.0.1', '--namesrv-port', String(nsPort), '--broker-port', String(brokerPort), `haListenPort=${haPort}`,
    // segments are allocated up front; keep the test's disk footprint small
    'mappedFileSizeCommitLog=67108864' ], 'Holdfast standalone:',
  path.join(work, 'broker.log'));
  children.push(broker);
  console.log(`  ${await broker.line}`);

  const admin = new MQClientAPI({ nameSrv, httpclient: {}, logger: quiet, responseTimeout: 10000 });
  admin.on('error', () => {});
  await admin.ready();
  await admin.createTopic(brokerAddr, 'TBW102', { topicName: TOPIC, readQueueNums: QUEUES, writeQueueNums: QUEUES,
    perm: 6, topicFilterType: 'SINGLE_TAG', topicSysFlag: 0, order: false }, 5000);
  await waitFor('the topic route', 20000, async () => {
    try {
      const route = await admin.getTopicRouteInfoFromNameServer(TOPIC, 3000);
      return route.queueDatas.some(q => q.readQueueNums === QUEUES);
    } catch (err) { return false; }
  });

  const common = { nameSrv, httpclient: {}, logger: quiet, pollNameServerInteval: 1000, heartbeatBrokerInterval: 5000,
    rebalanceInterval: 1000, persistConsumerOffsetInterval: 1000 };
  const jsSeen = new Map();  // body -> { count, queueId }
  const consumer = new Consumer(Object.assign({}, common, { instanceName: 'hf-mixed-js', consumerGroup: GROUP,
    consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET' }));
  consumer.on('error', () => {});
  consumer.subscribe(TOPIC, '*', async msg => {
    const body = msg.body.toString();
    const seen = jsSeen.get(body) || { count: 0, queueId: msg.queueId };
    seen.count++;
    jsSeen.set(body, seen);
  });
  await consumer.ready();

  const out = path.join(work, 'cpp_consumed.txt');
  const cpp = startChild(process.env.HOLDFAST_PUSH_CONSUMER, [ nameSrv, GROUP, TOPIC, 'hf-mixed-cpp', out, 'normal' ],
    'READY', path.join(work, 'cpp.log'));
  children.push(cpp);
  console.log(`  C++ consumer: ${await cpp.line}; ali-ons consumer: ${consumer._mqClient.clientId}`);

  const jsQueues = () => [ ...consumer.processQueueTable.values() ]
    .filter(e => e && e.messageQueue.topic === TOPIC).map(e => Number(e.messageQueue.queueId)).sort((a, b) => a - b);
  const cppQueues = () => {
    try {
      return fs.readFileSync(`${out}.queues`, 'utf8').split('\n').filter(l => l.startsWith(`${TOPIC} `))
        .map(l => Number(l.split(' ')[2])).sort((a, b) => a - b);
    } catch (err) { return []; }
  };
  const splitOk = () => {
    const js = jsQueues(), cc = cppQueues();
    const all = new Set([ ...js, ...cc ]);
    return js.length + cc.length === QUEUES && all.size === QUEUES && js.length === QUEUES / 2;
  };
  const describe = () => `ali-ons owns ${JSON.stringify(jsQueues())}, C++ owns ${JSON.stringify(cppQueues())}`;
  // The split must hold for three checks in a row (rebalances every second on both sides).
  let stable = 0;
  await waitFor('a stable split of the queues', 60000, async () => {
    stable = splitOk() ? stable + 1 : 0;
    if (stable < 3) await sleep(800);
    return stable >= 3;
  }, describe);
  console.log(`  split: ${describe()}`);
  const ownerOf = new Map();
  for (const q of jsQueues()) ownerOf.set(q, 'js');
  for (const q of cppQueues()) ownerOf.set(q, 'cpp');

  const producer = new Producer(Object.assign({}, common, { instanceName: 'hf-mixed-producer', producerGroup: 'hf_mixed_producer' }));
  producer.on('error', () => {});
  await producer.ready();
  const sent = new Map();  // body -> queueId
  for (let i = 0; i < MESSAGES; i++) {
    const body = `mixed-${i}`;
    const r = await producer.send(new Message(TOPIC, 'T', body));
    assert.equal(r.sendStatus, 'SEND_OK');
    sent.set(body, Number(r.messageQueue.queueId));
  }
  const cppSeen = () => {
    const m = new Map();
    try {
      for (const line of fs.readFileSync(out, 'utf8').split('\n')) {
        const [ , queueId ] = line.split(' ');
        if (line) m.set(line, Number(queueId));
      }
    } catch (err) { /* not yet */ }
    return m;
  };
  // The C++ file names messages by msg id; count them per queue against the sends.
  const sentPerQueue = new Map();
  for (const q of sent.values()) sentPerQueue.set(q, (sentPerQueue.get(q) || 0) + 1);
  const cppPerQueue = () => {
    const m = new Map();
    for (const q of cppSeen().values()) m.set(q, (m.get(q) || 0) + 1);
    return m;
  };
  const jsPerQueue = () => {
    const m = new Map();
    for (const [ body, s ] of jsSeen) if (sent.has(body)) m.set(s.queueId, (m.get(s.queueId) || 0) + s.count);
    return m;
  };
  await waitFor('every message consumed', 60000, () => {
    const js = jsPerQueue(), cc = cppPerQueue();
    for (const [ q, n ] of sentPerQueue) if ((js.get(q) || 0) + (cc.get(q) || 0) < n) return false;
    return true;
  }, () => `sent ${JSON.stringify([ ...sentPerQueue ])}, ali-ons ${JSON.stringify([ ...jsPerQueue() ])}, C++ ${JSON.stringify([ ...cppPerQueue() ])}`);
  await sleep(1000);
  const js = jsPerQueue(), cc = cppPerQueue();
  for (const [ q, n ] of sentPerQueue) {
    const owner = ownerOf.get(q);
    assert.equal(owner === 'js' ? (js.get(q) || 0) : (cc.get(q) || 0), n, `queue ${q}: its owner (${owner}) consumed all ${n}`);
    assert.equal(owner === 'js' ? (cc.get(q) || 0) : (js.get(q) || 0), 0, `queue ${q}: nobody but its owner consumed from it`);
  }
  console.log(`  ${MESSAGES} messages: ali-ons consumed ${[ ...js.values() ].reduce((a, b) => a + b, 0)}, C++ consumed ${[ ...cc.values() ].reduce((a, b) => a + b, 0)}, each from its own queues only`);

  await stopChild(cpp);
  await Promise.race([ Promise.all([ consumer.close(), producer.close() ])
    .then(() => MQProducer.defaultProducer && MQProducer.defaultProducer.close()), sleep(15000) ]);
  await admin.close();
  await stopChild(broker);
  fs.rmSync(work, { recursive: true, force: true });
}

const watchdog = setTimeout(() => { console.error('FAIL: watchdog'); process.exit(1); }, WATCHDOG_MS);
process.on('uncaughtException', err => { console.error(`FAIL: uncaught ${err.stack || err}`); process.exit(1); });
main().then(() => { clearTimeout(watchdog); console.log('PASS'); process.exit(0); },
  err => { console.error(`FAIL: ${err.stack || err}`); process.exit(1); });

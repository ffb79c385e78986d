// Compatibility test against ali-ons, a pure-JavaScript RocketMQ remoting client written by others
// (version pinned in package-lock.json). It starts a real `holdfast standalone`, then: produces with
// keys and tags, consumes in clustering and broadcasting mode, restarts a clustering consumer and checks
// it resumes from the committed offsets, and checks a failed message comes back through the retry topic.
// Exits non-zero on any failure. Run it with `ctest -L compat`, or by hand after `npm ci` in a copy of
// package*.json: HOLDFAST_BIN=build/bin/holdfast NODE_PATH=<copy>/node_modules node ali_ons_test.js
// (HOLDFAST_COMPAT_VERBOSE=1 adds the client's info log; HOLDFAST_LOG_LEVEL sets the broker's).
'use strict';

const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const util = require('node:util');

const { Producer, Consumer, Message } = require('ali-ons');
// The client's own remoting API, used for the admin calls it does not expose publicly.
const MQClientAPI = require('ali-ons/lib/mq_client_api');
// Every consumer and producer also starts one shared internal producer, which must be closed too.
const MQProducer = require('ali-ons/lib/producer/mq_producer');

const TOPIC = 'HoldfastCompatTopic';
const RETRY_CASE_TOPIC = 'HoldfastCompatRetryCase';
const GROUP_CLUSTERING = 'hf_compat_clustering';
const GROUP_BROADCASTING = 'hf_compat_broadcasting';
const GROUP_RETRY = 'hf_compat_retry';
const QUEUES = 4;
const FIRST_BATCH = 1000;
const SECOND_BATCH = 100;
const SEND_CONCURRENCY = 8;
const PLANNED_FAILURES = 2;  // the retry-case handler throws on its first two deliveries
const WATCHDOG_MS = 200 * 1000;  // below the ctest timeout, so the broker is always cleaned up here

const verbose = process.env.HOLDFAST_COMPAT_VERBOSE === '1';
const sleep = ms => new Promise(resolve => setTimeout(resolve, ms));
const tagFor = i => (i % 2 === 0 ? 'TagA' : 'TagB');

// ---- client log: ali-ons reports problems through its logger and 'error' events -------------------

const clientProblems = new Map();  // "source: text" -> count
function clientText(args) {
  return args.map(a => (a instanceof Error ? `${a.name}: ${a.message}` : a))
    .map(a => (typeof a === 'string' ? a : util.inspect(a, { depth: 2, breakLength: Infinity })))
    .join(' ');
}
function noteProblem(source, args) {
  const key = `${source}: ${clientText(args)}`.slice(0, 400);
  const seen = clientProblems.get(key) || 0;
  clientProblems.set(key, seen + 1);
  if (seen === 0) console.log(`  [client ${key}]`);
}
function loggerFor(source) {
  return {
    info: (...args) => { if (verbose) console.log(`  [${source} info] ${util.format(...args)}`); },
    debug() {},
    warn: (...args) => noteProblem(`${source} warn`, args),
    error: (...args) => noteProblem(`${source} error`, args),
  };
}

// ---- the broker process -----------------------------------------------------------------------

async function freePorts(count) {
  const servers = [];
  for (let i = 0; i < count; i++) {
    const server = net.createServer();
    await new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', resolve);
    });
    servers.push(server);
  }
  const ports = servers.map(s => s.address().port);
  await Promise.all(servers.map(s => new Promise(resolve => s.close(resolve))));
  return ports;
}

class BrokerProcess {
  async start() {
    const bin = process.env.HOLDFAST_BIN;
    assert.ok(bin, 'HOLDFAST_BIN must name the holdfast binary');
    assert.ok(fs.existsSync(bin), `HOLDFAST_BIN=${bin} does not exist`);
    this.workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'holdfast-compat-'));
    this.logPath = path.join(this.workDir, 'broker.log');
    const [namesrvPort, brokerPort, haPort] = await freePorts(3);
    this.namesrvAddr = `127.0.0.1:${namesrvPort}`;
    this.brokerAddr = `127.0.0.1:${brokerPort}`;
    const args = ['standalone', '--data', path.join(this.workDir, 'data'), '--host', '127.0.0.1',
      '--namesrv-port', String(namesrvPort), '--broker-port', String(brokerPort), `haListenPort=${haPort}`,
      // segments are allocated up front; keep the test's disk footprint small
      'mappedFileSizeCommitLog=67108864'];
    const log = fs.openSync(this.logPath, 'a');
    this.child = spawn(bin, args, { stdio: ['ignore', 'pipe', log] });
    fs.closeSync(log);
    this.stopping = false;
    this.exited = new Promise(resolve => this.child.once('exit', (code, signal) => resolve({ code, signal })));
    this.exited.then(({ code, signal }) => {
      this.exitStatus = `code ${code}, signal ${signal}`;
      if (!this.stopping) console.log(`  broker exited unexpectedly (${this.exitStatus})`);
    });

    let stdout = '';
    const ready = new Promise((resolve, reject) => {
      this.child.stdout.on('data', chunk => {
        fs.appendFileSync(this.logPath, chunk);
        stdout += chunk.toString();
        const line = stdout.split('\n').find(l => l.startsWith('Holdfast standalone:'));
        if (line) resolve(line);
      });
      this.exited.then(() => reject(new Error(`broker exited before it was ready (${this.exitStatus})`)));
      setTimeout(() => reject(new Error('broker not ready after 30 s')), 30000).unref();
    });
    const line = await ready;
    console.log(`  ${line}`);
    console.log(`  ${bin} ${args.join(' ')}`);
  }

  get alive() {
    return this.child && this.child.exitCode === null && this.child.signalCode === null;
  }

  async stop() {
    if (!this.child) return;
    this.stopping = true;
    if (this.alive) {
      this.child.kill('SIGTERM');
      const done = await Promise.race([this.exited.then(() => true), sleep(5000).then(() => false)]);
      if (!done) {
        console.log('  broker still running 5 s after SIGTERM; sending SIGKILL');
        this.child.kill('SIGKILL');
        await this.exited;
      }
    }
    return this.exitStatus;
  }

  logTail(lines) {
    try {
      return fs.readFileSync(this.logPath, 'utf8').split('\n').slice(-lines).join('\n');
    } catch (err) {
      return `(no broker log: ${err.message})`;
    }
  }
}

const broker = new BrokerProcess();
process.on('exit', () => { if (broker.alive) broker.child.kill('SIGKILL'); });

// ---- helpers ------------------------------------------------------------------------------------

// Polls `predicate` (may be async) until it returns true; fails early if the broker died.
async function waitFor(what, timeoutMs, predicate, describe) {
  const start = Date.now();
  for (;;) {
    if (!broker.alive) throw new Error(`broker died (${broker.exitStatus}) while waiting for ${what}`);
    if (await predicate()) return Date.now() - start;
    if (Date.now() - start > timeoutMs) {
      const state = describe ? `; ${await describe()}` : '';
      throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}${state}`);
    }
    await sleep(200);
  }
}

async function withTimeout(what, ms, promise) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms / 1000} s`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

const phases = [];
async function phase(name, fn) {
  const start = Date.now();
  console.log(`- ${name}`);
  const result = await fn();
  const ms = Date.now() - start;
  phases.push({ name, ms });
  console.log(`  done in ${(ms / 1000).toFixed(1)} s`);
  return result;
}

function commonOptions(instanceName) {
  return {
    nameSrv: broker.namesrvAddr,
    httpclient: {},  // only used to look up name servers over HTTP, which nameSrv makes unnecessary
    instanceName,
    logger: loggerFor(instanceName),
    pollNameServerInteval: 1000,  // (sic) the client's spelling
    heartbeatBrokerInterval: 5000,
    rebalanceInterval: 1000,
    persistConsumerOffsetInterval: 1000,
  };
}

// ---- what the consumers saw ---------------------------------------------------------------------

class Tally {
  constructor(name, sends) {
    this.name = name;
    this.sends = sends;
    this.seen = new Map();  // message index -> deliveries
    this.deliveries = 0;
    this.mismatches = [];
  }

  // The consume handler body: counts the delivery and checks what arrived against what was sent.
  record(msg) {
    this.deliveries++;
    const body = msg.body ? msg.body.toString() : '';
    const match = /^msg-(\d+)$/.exec(body);
    if (!match) {
      this.mismatch(`unexpected body ${JSON.stringify(body)} (topic ${msg.topic})`);
      return;
    }
    const i = Number(match[1]);
    this.seen.set(i, (this.seen.get(i) || 0) + 1);
    const sent = this.sends.get(i);
    const expect = (field, got, want) => {
      if (got !== want) this.mismatch(`msg-${i}: ${field} is ${JSON.stringify(got)}, sent ${JSON.stringify(want)}`);
    };
    expect('topic', msg.topic, TOPIC);
    expect('tags', msg.tags, tagFor(i));
    expect('keys', msg.keys, `key-${i}`);
    if (sent) {
      expect('queueId', msg.queueId, sent.queueId);
      expect('queueOffset', msg.queueOffset, sent.queueOffset);
      expect('msgId', msg.msgId, sent.msgId);
    }
  }

  mismatch(text) {
    if (this.mismatches.length < 20) console.log(`  [${this.name}] ${text}`);
    this.mismatches.push(text);
  }

  hasAll(from, to) {
    for (let i = from; i < to; i++) if (!this.seen.has(i)) return false;
    return true;
  }

  missing(from, to) {
    let n = 0;
    for (let i = from; i < to; i++) if (!this.seen.has(i)) n++;
    return n;
  }

  duplicates() {
    let n = 0;
    for (const count of this.seen.values()) n += count - 1;
    return n;
  }

  countIn(from, to) {
    let n = 0;
    for (const [i, count] of this.seen) if (i >= from && i < to) n += count;
    return n;
  }
}

// ---- the scenario -------------------------------------------------------------------------------

async function produce(producer, sends, from, to) {
  let next = from;
  const worker = async () => {
    while (next < to) {
      const i = next++;
      const msg = new Message(TOPIC, tagFor(i), `msg-${i}`);
      msg.keys = [ `key-${i}` ];
      const result = await producer.send(msg);
      assert.equal(result.sendStatus, 'SEND_OK', `send of msg-${i}: ${util.inspect(result)}`);
      assert.ok(typeof result.msgId === 'string' && result.msgId.length > 0, `send of msg-${i} has no msgId`);
      assert.ok(Number.isInteger(Number(result.messageQueue.queueId)), `send of msg-${i}: queueId ${result.messageQueue.queueId}`);
      sends.set(i, {
        queueId: Number(result.messageQueue.queueId),
        queueOffset: result.queueOffset,
        msgId: result.msgId,
      });
    }
  };
  await Promise.all(Array.from({ length: SEND_CONCURRENCY }, worker));
}

// Every queue's offsets, as acknowledged to the producer, are 0..n-1 with no gap or repeat, and the
// broker's GET_MAX_OFFSET reaches them. It may trail an acknowledgement briefly: as in RocketMQ, the
// consume queues are written by a dispatcher after the commit log.
async function checkQueueOffsets(admin, sends) {
  const perQueue = new Map();
  for (const { queueId, queueOffset } of sends.values()) {
    if (!perQueue.has(queueId)) perQueue.set(queueId, []);
    perQueue.get(queueId).push(queueOffset);
  }
  const maxOffsets = [];
  for (let q = 0; q < QUEUES; q++) {
    const offsets = (perQueue.get(q) || []).sort((a, b) => a - b);
    offsets.forEach((offset, k) => assert.equal(offset, k, `queue ${q}: acknowledged offsets ${offsets.slice(0, k + 1).slice(-5)}...`));
    let max;
    await waitFor(`GET_MAX_OFFSET of queue ${q} to reach ${offsets.length}`, 5000, async () => {
      max = await admin.getMaxOffset(broker.brokerAddr, TOPIC, q, 5000);
      assert.ok(max <= offsets.length, `GET_MAX_OFFSET of queue ${q} is ${max}, beyond the ${offsets.length} acknowledged`);
      return max === offsets.length;
    }, () => `it is ${max}`);
    maxOffsets.push(max);
  }
  assert.equal([ ...perQueue.keys() ].filter(q => q < 0 || q >= QUEUES).length, 0, 'sends went to unknown queues');
  return maxOffsets;
}

async function committedOffsets(admin, group) {
  const offsets = [];
  for (let q = 0; q < QUEUES; q++) {
    try {
      offsets.push(await admin.queryConsumerOffset(broker.brokerAddr, { topic: TOPIC, consumerGroup: group, queueId: q }, 5000));
    } catch (err) {
      offsets.push(`error ${err.code}: ${err.message}`);
    }
  }
  return offsets;
}

async function consumerIds(admin, group) {
  try {
    return JSON.stringify(await admin.getConsumerIdListByGroup(broker.brokerAddr, group, 5000));
  } catch (err) {
    return `error ${err.code}: ${err.message}`;
  }
}

async function createTopicAndWaitForRoute(admin, topic) {
  await admin.createTopic(broker.brokerAddr, 'TBW102', {
    topicName: topic,
    readQueueNums: QUEUES,
    writeQueueNums: QUEUES,
    perm: 6,
    topicFilterType: 'SINGLE_TAG',
    topicSysFlag: 0,
    order: false,
  }, 5000);
  let last = 'no answer yet';
  await waitFor(`a name-server route for ${topic}`, 20000, async () => {
    try {
      const route = await admin.getTopicRouteInfoFromNameServer(topic, 3000);
      last = JSON.stringify(route);
      const queues = route.queueDatas.find(q => q.readQueueNums === QUEUES && q.writeQueueNums === QUEUES && (q.perm & 6) === 6);
      const brokerData = queues && route.brokerDatas.find(b => b.brokerName === queues.brokerName);
      return !!(brokerData && brokerData.brokerAddrs && brokerData.brokerAddrs['0'] === broker.brokerAddr);
    } catch (err) {
      last = `error ${err.code}: ${err.message}`;
      return false;
    }
  }, () => `last answer: ${last}`);
}

async function main() {
  const summary = {};
  await phase('start holdfast standalone', () => broker.start());

  const admin = new MQClientAPI({ nameSrv: broker.namesrvAddr, httpclient: {}, logger: loggerFor('admin'), responseTimeout: 10000 });
  admin.on('error', err => noteProblem('admin error', [ err ]));
  await admin.ready();

  await phase(`create topics ${TOPIC} and ${RETRY_CASE_TOPIC} (UPDATE_AND_CREATE_TOPIC), wait for routes`, async () => {
    await createTopicAndWaitForRoute(admin, TOPIC);
    await createTopicAndWaitForRoute(admin, RETRY_CASE_TOPIC);
  });

  const producer = new Producer(Object.assign(commonOptions('hf-compat-producer'), { producerGroup: 'hf_compat_producer' }));
  producer.on('error', err => noteProblem('producer error', [ err ]));
  await withTimeout('producer start', 20000, producer.ready());

  const sends = new Map();
  let maxOffsets;
  await phase(`produce ${FIRST_BATCH} messages (keys, tags TagA/TagB)`, async () => {
    const start = Date.now();
    await produce(producer, sends, 0, FIRST_BATCH);
    summary.firstBatchSendMs = Date.now() - start;
    maxOffsets = await checkQueueOffsets(admin, sends);
    console.log(`  ${sends.size} SEND_OK; messages per queue ${JSON.stringify(maxOffsets)}`);
  });

  const clustering1 = new Tally('clustering', sends);
  const broadcasting = new Tally('broadcasting', sends);
  const consumerA1 = new Consumer(Object.assign(commonOptions('hf-compat-clustering-1'), {
    consumerGroup: GROUP_CLUSTERING,
    consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET',
  }));
  consumerA1.on('error', err => noteProblem('clustering-1 error', [ err ]));
  const consumerB = new Consumer(Object.assign(commonOptions('hf-compat-broadcasting'), {
    consumerGroup: GROUP_BROADCASTING,
    consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET',
    isBroadcast: true,
  }));
  consumerB.on('error', err => noteProblem('broadcasting error', [ err ]));

  await phase(`consume them with a clustering consumer (${GROUP_CLUSTERING}) and a broadcasting consumer (${GROUP_BROADCASTING})`, async () => {
    const start = Date.now();
    consumerA1.subscribe(TOPIC, '*', async msg => clustering1.record(msg));
    consumerB.subscribe(TOPIC, '*', async msg => broadcasting.record(msg));
    await waitFor(`all ${FIRST_BATCH} messages in both groups`, 60000,
      () => clustering1.hasAll(0, FIRST_BATCH) && broadcasting.hasAll(0, FIRST_BATCH),
      async () => `clustering missing ${clustering1.missing(0, FIRST_BATCH)}, broadcasting missing ${broadcasting.missing(0, FIRST_BATCH)}; ` +
        `consumer ids of ${GROUP_CLUSTERING}: ${await consumerIds(admin, GROUP_CLUSTERING)}; ` +
        `committed ${JSON.stringify(await committedOffsets(admin, GROUP_CLUSTERING))}`);
    summary.firstBatchConsumeMs = Date.now() - start;
    console.log(`  clustering: ${clustering1.deliveries} deliveries, ${clustering1.duplicates()} duplicates; ` +
      `broadcasting: ${broadcasting.deliveries} deliveries, ${broadcasting.duplicates()} duplicates`);
  });

  let committedBeforeClose;
  await phase(`wait until ${GROUP_CLUSTERING}'s offsets are committed (QUERY_CONSUMER_OFFSET), then close it`, async () => {
    await waitFor('committed offsets at the end of every queue', 20000, async () => {
      committedBeforeClose = await committedOffsets(admin, GROUP_CLUSTERING);
      return committedBeforeClose.every((offset, q) => offset === maxOffsets[q]);
    }, () => `committed ${JSON.stringify(committedBeforeClose)}, queue ends ${JSON.stringify(maxOffsets)}`);
    console.log(`  committed offsets ${JSON.stringify(committedBeforeClose)}`);
    await withTimeout('closing the clustering consumer', 15000, consumerA1.close());
    const after = await committedOffsets(admin, GROUP_CLUSTERING);
    assert.deepEqual(after, committedBeforeClose, 'committed offsets changed when the consumer closed');
  });

  await phase(`produce ${SECOND_BATCH} more`, async () => {
    await produce(producer, sends, FIRST_BATCH, FIRST_BATCH + SECOND_BATCH);
    maxOffsets = await checkQueueOffsets(admin, sends);
  });

  const clustering2 = new Tally('clustering-restarted', sends);
  const consumerA2 = new Consumer(Object.assign(commonOptions('hf-compat-clustering-2'), {
    consumerGroup: GROUP_CLUSTERING,
    consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET',  // would start over at 0 if the offsets were lost
  }));
  consumerA2.on('error', err => noteProblem('clustering-2 error', [ err ]));

  await phase(`restart a consumer in ${GROUP_CLUSTERING}: it resumes at the committed offsets`, async () => {
    const start = Date.now();
    consumerA2.subscribe(TOPIC, '*', async msg => clustering2.record(msg));
    const all = FIRST_BATCH + SECOND_BATCH;
    await waitFor(`the ${SECOND_BATCH} new messages in the restarted consumer and the broadcasting one`, 60000,
      () => clustering2.hasAll(FIRST_BATCH, all) && broadcasting.hasAll(FIRST_BATCH, all),
      async () => `restarted consumer missing ${clustering2.missing(FIRST_BATCH, all)} ` +
        `(and got ${clustering2.countIn(0, FIRST_BATCH)} old ones), broadcasting missing ${broadcasting.missing(FIRST_BATCH, all)}; ` +
        `consumer ids of ${GROUP_CLUSTERING}: ${await consumerIds(admin, GROUP_CLUSTERING)}`);
    summary.restartConsumeMs = Date.now() - start;
    await sleep(2000);  // let anything redelivered from before the committed offsets show up
    summary.redelivered = clustering2.countIn(0, FIRST_BATCH);
    console.log(`  restarted consumer: ${clustering2.countIn(FIRST_BATCH, all)} new, ${summary.redelivered} of the first ${FIRST_BATCH} again`);
    // The offsets were seen committed at the queue ends before the close, so resuming from them
    // redelivers nothing; any old message here means the broker served a wrong starting offset.
    assert.equal(summary.redelivered, 0, `the restarted consumer got ${summary.redelivered} messages from before its committed offsets`);
  });

  const retryCase = { deliveries: [], succeeded: false, sendBackOk: 0, sendBackErrors: [] };
  const consumerR = new Consumer(Object.assign(commonOptions('hf-compat-retry'), {
    consumerGroup: GROUP_RETRY,
    consumeFromWhere: 'CONSUME_FROM_FIRST_OFFSET',
  }));
  consumerR.on('error', err => { if (!/planned handler failure/.test(err.message)) noteProblem('retry-case error', [ err ]); });
  // ali-ons falls back to re-sending a failed message itself when CONSUMER_SEND_MSG_BACK fails; count
  // the broker's answers so that fallback cannot hide a broken send-back.
  const client = consumerR._mqClient;
  const sendBack = client.consumerSendMessageBack.bind(client);
  client.consumerSendMessageBack = async (...args) => {
    try {
      const result = await sendBack(...args);
      retryCase.sendBackOk++;
      return result;
    } catch (err) {
      retryCase.sendBackErrors.push(`code ${err.code}: ${err.message}`);
      throw err;
    }
  };

  await phase(`a handler that throws ${PLANNED_FAILURES} times gets the message again (${GROUP_RETRY}, %RETRY%${GROUP_RETRY})`, async () => {
    consumerR.subscribe(RETRY_CASE_TOPIC, '*', async msg => {
      retryCase.deliveries.push({
        ms: Date.now(),
        topic: msg.topic,
        retryTopic: msg.retryTopic,
        reconsumeTimes: msg.reconsumeTimes,
        msgId: msg.msgId,
        originMessageId: msg.originMessageId,
        body: msg.body ? msg.body.toString() : '',
      });
      if (retryCase.deliveries.length <= PLANNED_FAILURES) {
        throw new Error(`planned handler failure ${retryCase.deliveries.length}`);
      }
      retryCase.succeeded = true;
    });
    await sleep(1000);
    const start = Date.now();
    const result = await producer.send(new Message(RETRY_CASE_TOPIC, 'TagR', 'retry-me'));
    assert.equal(result.sendStatus, 'SEND_OK');
    await waitFor('the retry-case message to be consumed successfully', 90000, () => retryCase.succeeded,
      () => `deliveries so far ${JSON.stringify(retryCase.deliveries)}, send-backs ok ${retryCase.sendBackOk}, ` +
        `failed ${JSON.stringify(retryCase.sendBackErrors)}`);
    summary.retryMs = Date.now() - start;
    await sleep(1000);
    const d = retryCase.deliveries;
    for (const [k, delivery] of d.entries()) {
      console.log(`  delivery ${k + 1} after ${((delivery.ms - start) / 1000).toFixed(1)} s: topic ${delivery.topic}, ` +
        `RETRY_TOPIC ${delivery.retryTopic}, reconsumeTimes ${delivery.reconsumeTimes}, msgId ${delivery.msgId}, ` +
        `ORIGIN_MESSAGE_ID ${delivery.originMessageId}`);
    }
    assert.ok(d.length > PLANNED_FAILURES, `delivered ${d.length} times`);
    assert.equal(retryCase.sendBackErrors.length, 0,
      `CONSUMER_SEND_MSG_BACK failed (the client fell back to re-sending itself): ${retryCase.sendBackErrors}`);
    assert.ok(retryCase.sendBackOk >= PLANNED_FAILURES, `${retryCase.sendBackOk} successful CONSUMER_SEND_MSG_BACK`);
    for (const [k, delivery] of d.entries()) {
      assert.equal(delivery.body, 'retry-me', `delivery ${k + 1} body`);
      assert.equal(delivery.topic, RETRY_CASE_TOPIC, `delivery ${k + 1} topic as the handler sees it`);
      if (k > 0) {
        assert.equal(delivery.retryTopic, RETRY_CASE_TOPIC, `delivery ${k + 1}: RETRY_TOPIC property`);
        assert.ok(delivery.reconsumeTimes >= k, `delivery ${k + 1}: reconsumeTimes ${delivery.reconsumeTimes}, want >= ${k}`);
        assert.equal(delivery.originMessageId, d[0].msgId, `delivery ${k + 1}: ORIGIN_MESSAGE_ID`);
      }
    }
    summary.retryDeliveries = d.length;
    summary.retryDelaysMs = d.slice(1).map((x, k) => x.ms - d[k].ms);
  });

  // Whole-run checks on what was delivered.
  for (const tally of [ clustering1, broadcasting, clustering2 ]) {
    assert.equal(tally.mismatches.length, 0, `${tally.name}: ${tally.mismatches.length} deliveries differ from what was sent, first: ${tally.mismatches[0]}`);
  }
  assert.ok(broadcasting.hasAll(0, FIRST_BATCH + SECOND_BATCH), 'broadcasting consumer missed messages');

  await phase('close clients', async () => {
    await withTimeout('closing consumers and producer', 20000,
      Promise.all([ consumerA2.close(), consumerB.close(), consumerR.close() ])
        .then(() => producer.close())
        .then(() => MQProducer.defaultProducer && MQProducer.defaultProducer.close()));
    await admin.close();
  });

  console.log('\nSummary (ali-ons 3.12.0 against holdfast standalone)');
  console.log(`  produced ${FIRST_BATCH} + ${SECOND_BATCH} + 1 messages, all SEND_OK; first ${FIRST_BATCH} in ${summary.firstBatchSendMs} ms`);
  console.log(`  clustering ${GROUP_CLUSTERING}: ${clustering1.seen.size}/${FIRST_BATCH} distinct, ${clustering1.duplicates()} duplicates, all in ${summary.firstBatchConsumeMs} ms`);
  console.log(`  broadcasting ${GROUP_BROADCASTING}: ${broadcasting.seen.size}/${FIRST_BATCH + SECOND_BATCH} distinct, ${broadcasting.duplicates()} duplicates`);
  console.log(`  restarted clustering consumer: ${clustering2.countIn(FIRST_BATCH, FIRST_BATCH + SECOND_BATCH)} new (${SECOND_BATCH} sent) in ${summary.restartConsumeMs} ms, ${summary.redelivered} redelivered from before the committed offsets ${JSON.stringify(committedBeforeClose)}`);
  console.log(`  retry: ${summary.retryDeliveries} deliveries (${PLANNED_FAILURES} planned failures), ${retryCase.sendBackOk} CONSUMER_SEND_MSG_BACK ok, gaps ${JSON.stringify(summary.retryDelaysMs)} ms, success after ${summary.retryMs} ms`);
  for (const p of phases) console.log(`  ${(p.ms / 1000).toFixed(1).padStart(6)} s  ${p.name}`);
  console.log(`  client warnings and errors: ${[ ...clientProblems.values() ].reduce((a, b) => a + b, 0)} (${clientProblems.size} distinct, shown above)`);
}

async function run() {
  const watchdog = setTimeout(() => {
    console.error(`FAIL: the test did not finish within ${WATCHDOG_MS / 1000} s`);
    finish(1);
  }, WATCHDOG_MS);
  let code = 0;
  try {
    await main();
    console.log('PASS');
  } catch (err) {
    code = 1;
    console.error(`FAIL: ${err.stack || err}`);
  }
  clearTimeout(watchdog);
  await finish(code);
}

let finishing = false;
async function finish(code) {
  if (finishing) return;
  finishing = true;
  const status = await broker.stop();
  if (status) console.log(`  broker stopped (${status})`);
  if (code !== 0 && broker.logPath) {
    console.error(`--- last lines of ${broker.logPath} ---\n${broker.logTail(60)}`);
    console.error(`(broker data and log kept in ${broker.workDir})`);
  } else if (broker.workDir) {
    fs.rmSync(broker.workDir, { recursive: true, force: true });
  }
  process.exit(code);
}

// A client error nobody listens for is thrown; before the end that is a failure, while the broker
// stops it is noise from connections still closing.
process.on('uncaughtException', err => {
  if (finishing) return;
  console.error(`FAIL: uncaught ${err.stack || err}`);
  finish(1);
});
process.on('SIGTERM', () => finish(1));
process.on('SIGINT', () => finish(1));
run();

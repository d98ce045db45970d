// lrplan's promise, walked as a user walks it: plan in the browser, download the plan file and
// the table, train with that file, and find the trainer applied exactly the page's learning
// rate at every step — compared as IEEE-754 bits, not with a tolerance. One run is killed with
// SIGKILL in the middle and resumed; its combined log must still equal the page's table.
//
//   LRPLAN_TRAINER=target/release/trainer node --test tests/e2e/plan_to_run.test.mjs
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32, deflateSync } from 'node:zlib';
import { openPlanner, ROOT } from '../browser/harness.mjs';

const TARGET = process.env.CARGO_TARGET_DIR ?? join(ROOT, 'target');
const TRAINER = process.env.LRPLAN_TRAINER ?? join(TARGET, 'release', 'trainer');

// --- a tiny image folder --------------------------------------------------------------------

/** An 8-bit grayscale PNG, enough for the trainer's image reader. */
function png(w, h, pixel) {
  const chunk = (kind, data) => {
    const body = Buffer.concat([Buffer.from(kind, 'latin1'), data]);
    const out = Buffer.alloc(body.length + 8);
    out.writeUInt32BE(data.length, 0);
    body.copy(out, 4);
    out.writeUInt32BE(crc32(body), body.length + 4);
    return out;
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr.set([8, 0, 0, 0, 0], 8);
  const raw = Buffer.alloc((w + 1) * h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) raw[y * (w + 1) + 1 + x] = pixel(x, y);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** Two classes (bright left half / bright right half) with a little noise. */
async function imageFolder(dir, perClassTrain, perClassVal) {
  let seed = 7;
  const noise = () => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed % 40; };
  for (const [split, n] of [['train', perClassTrain], ['val', perClassVal]]) {
    for (const [cls, bright] of [['left', (x) => x < 8], ['right', (x) => x >= 8]]) {
      const d = join(dir, split, cls);
      await mkdir(d, { recursive: true });
      for (let i = 0; i < n; i++) {
        await writeFile(join(d, `${i}.png`), png(16, 16, (x) => (bright(x) ? 200 : 30) + noise()));
      }
    }
  }
  return perClassTrain * 2;
}

// --- the page ---------------------------------------------------------------------------------

let env, page, dir;
before(async () => {
  assert.ok(existsSync(TRAINER), `trainer binary not found at ${TRAINER} (set LRPLAN_TRAINER)`);
  dir = await mkdtemp(join(tmpdir(), 'lrplan-plan-to-run-'));
  env = await openPlanner();
  page = env.page;
});
after(async () => {
  await env?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Types into the form like a user: selects, checkboxes and text fields each by their own API. */
async function setInputs(values) {
  for (const [name, value] of Object.entries(values)) {
    const el = page.locator(`[name="${name}"]`);
    const kind = await el.evaluate((e) => (e.type === 'checkbox' ? 'checkbox' : e.tagName));
    if (kind === 'SELECT') await el.selectOption(String(value));
    else if (kind === 'checkbox') await el.setChecked(Boolean(value));
    else await el.fill(String(value));
  }
  assert.equal(await page.locator('#problems').isVisible(), false, 'the page accepts the plan');
}

async function download(button, name) {
  const [file] = await Promise.all([page.waitForEvent('download'), page.click(button)]);
  const path = join(dir, name);
  await file.saveAs(path);
  return path;
}

// --- comparing logs ---------------------------------------------------------------------------

/** Parses a table CSV into rows keyed by column name; the lr also as its 64 raw bits. */
function table(text) {
  const [header, ...lines] = text.trim().split('\n');
  const cols = header.split(',');
  return lines.map((line) => {
    const cells = line.split(',');
    const row = Object.fromEntries(cols.map((c, i) => [c, cells[i]]));
    const bits = new DataView(new ArrayBuffer(8));
    bits.setFloat64(0, Number(row.lr));
    row.bits = bits.getBigUint64(0);
    return row;
  });
}

/** Same number of rows, same step/epoch/iteration/phase/batch size, identical lr bits. */
function assertSameSchedule(trained, planned, what) {
  assert.equal(trained.length, planned.length, `${what}: row count`);
  for (let i = 0; i < planned.length; i++) {
    const [t, p] = [trained[i], planned[i]];
    for (const key of ['step', 'epoch', 'iteration', 'phase', 'batch_size']) {
      assert.equal(t[key], p[key], `${what}: row ${i} ${key}`);
    }
    assert.equal(t.bits, p.bits, `${what}: row ${i} (epoch ${p.epoch}, iteration ${p.iteration}) `
      + `lr ${t.lr} trained vs ${p.lr} planned differ in their bits`);
  }
}

const trainArgs = (plan, data, out) => [
  'train', '--plan', plan, '--data', data, '--out', out, '--device', 'cpu',
  '--model', 'small-cnn', '--image-size', '16', '--threads', '1', '--no-charts',
];

function train(args) {
  execFileSync(TRAINER, args, { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
}

const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));

/** Starts a run and kills it with SIGKILL once its checkpoint says `epoch` epochs are done. */
async function killAfterEpoch(args, out, epoch) {
  const child = spawn(TRAINER, args, { stdio: 'ignore' });
  const exited = new Promise((ok) => child.on('exit', (code, signal) => ok({ code, signal })));
  let finished = null;
  exited.then((r) => { finished = r; });
  const meta = join(out, 'last.json');
  for (;;) {
    if (finished) assert.fail(`the run ended (${JSON.stringify(finished)}) before it could be killed`);
    try {
      if (JSON.parse(readFileSync(meta, 'utf8')).epoch >= epoch) break;
    } catch { /* not written yet, or being replaced */ }
    await sleep(5);
  }
  child.kill('SIGKILL');
  assert.equal((await exited).signal, 'SIGKILL', 'the run was killed, not finished');
}

// --- the walks --------------------------------------------------------------------------------

test('per-iteration cos with a freeze phase: planned == trained, also across a kill and resume', async () => {
  const data = join(dir, 'images-a');
  const trainSize = await imageFolder(data, 120, 4);
  // Freeze batch 6 -> 40 iterations per epoch; unfreeze batch 8 -> 30.
  await setInputs({
    'optimizer.kind': 'sgd', 'lr.init': '2e-2', 'lr.min': '3e-4', 'decay.kind': 'cos',
    'decay.warmup_iters_ratio': '0.3', 'decay.warmup_lr_ratio': '0.25', 'decay.no_aug_iter_ratio': '0.2',
    'epochs.total': '6', 'epochs.start': '0', 'phases.freeze': true, 'phases.freeze_epochs': '2',
    'phases.freeze_batch_size': '6', 'phases.unfreeze_batch_size': '8',
    'updates.per': 'iteration', 'updates.source': 'dataset_size',
    'updates.dataset_size': String(trainSize), 'updates.drop_last': true,
  });
  const plan = await download('#download-plan', 'cos-plan.toml');
  const planned = table(await readFile(await download('#download-csv', 'cos-table.csv'), 'utf8'));
  assert.equal(planned.length, 2 * 40 + 4 * 30, 'the page planned the expected steps');
  assert.ok(planned.some((r) => r.phase === 'freeze') && planned.some((r) => r.phase === 'unfreeze'));

  const whole = join(dir, 'run-cos');
  train(trainArgs(plan, data, whole));
  assertSameSchedule(table(await readFile(join(whole, 'lr.csv'), 'utf8')), planned, 'uninterrupted run');

  const killed = join(dir, 'run-cos-killed');
  await killAfterEpoch(trainArgs(plan, data, killed), killed, 3);
  const partial = table(await readFile(join(killed, 'lr.csv'), 'utf8'));
  assert.ok(partial.length < planned.length, 'the kill left the run unfinished');
  train(['train', '--resume', killed]);
  assertSameSchedule(table(await readFile(join(killed, 'lr.csv'), 'utf8')), planned, 'killed and resumed run');
  assert.deepEqual(env.consoleErrors, []);
});

test('per-epoch step decay without a freeze phase: planned == trained', async () => {
  const data = join(dir, 'images-b');
  await imageFolder(data, 10, 2);
  await setInputs({
    'optimizer.kind': 'adamw', 'lr.init': '1e-3', 'lr.min': '1e-5', 'decay.kind': 'step',
    'decay.step_num': '4', 'epochs.total': '8', 'epochs.start': '0', 'phases.freeze': false,
    'phases.unfreeze_batch_size': '4', 'updates.per': 'epoch',
  });
  const plan = await download('#download-plan', 'step-plan.toml');
  const planned = table(await readFile(await download('#download-csv', 'step-table.csv'), 'utf8'));
  assert.equal(planned.length, 8);
  assert.equal(new Set(planned.map((r) => r.lr)).size, 4, 'four distinct steps');

  const out = join(dir, 'run-step');
  train(trainArgs(plan, data, out));
  assertSameSchedule(table(await readFile(join(out, 'lr.csv'), 'utf8')), planned, 'step run');
  assert.deepEqual(env.consoleErrors, []);
});

test('the comparison itself notices a single flipped last bit', () => {
  const csv = 'step,epoch,iteration,phase,batch_size,lr\n0,0,0,unfreeze,4,1e-3\n';
  const flipped = 'step,epoch,iteration,phase,batch_size,lr\n0,0,0,unfreeze,4,1.0000000000000002e-3\n';
  assert.throws(() => assertSameSchedule(table(flipped), table(csv), 'perturbed'), /differ in their bits/);
});

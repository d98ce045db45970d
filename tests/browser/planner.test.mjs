// End-to-end test of the planner page in the system Chromium: every value the page shows or
// downloads is compared with the native `lrplan` CLI (the schedule crate compiled for the
// host), the path a real user takes from typing to training.
//
//   LRPLAN_BIN=target/debug/lrplan node --test tests/browser/planner.test.mjs
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openPlanner, ROOT } from './harness.mjs';

const BIN = process.env.LRPLAN_BIN ?? join(process.env.CARGO_TARGET_DIR ?? join(ROOT, 'target'), 'debug', 'lrplan');
const lrplan = (...args) => execFileSync(BIN, args, { encoding: 'utf8', maxBuffer: 1 << 28 });

/** The message `lrplan PLAN` refuses a plan file with, without its `lrplan: PATH: ` prefix. */
function nativeRefusal(path) {
  try {
    execFileSync(BIN, [path], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const prefix = `lrplan: ${path}: `;
    assert.ok(e.stderr.startsWith(prefix), e.stderr);
    return e.stderr.slice(prefix.length).trimEnd();
  }
  assert.fail(`lrplan accepted ${path}`);
}

/** `{ init, min }` per phase name from the CLI summary. */
function nativeFits(summary) {
  const fits = {};
  for (const m of summary.matchAll(/^(freeze|unfreeze)\s.*init_lr_fit (\S+), min_lr_fit (\S+)$/gm)) {
    fits[m[1]] = { init: m[2], min: m[3] };
  }
  return fits;
}

/** The CSV rows of iteration 0, by epoch: what the page's per-epoch table shows. */
function firstRows(csv) {
  const rows = new Map();
  for (const line of csv.trim().split('\n').slice(1)) {
    const [step, epoch, iteration, phase, batch, lr] = line.split(',');
    if (iteration === '0') rows.set(epoch, { step, phase, batch, lr });
  }
  return rows;
}

let env, page, dir;
before(async () => {
  assert.ok(existsSync(BIN), `native lrplan binary not found at ${BIN} (set LRPLAN_BIN)`);
  dir = await mkdtemp(join(tmpdir(), 'lrplan-e2e-'));
  env = await openPlanner({ deviceScaleFactor: 2 });
  page = env.page;
});
after(async () => { await env?.close(); });

const text = (sel) => page.locator(sel).first().innerText();
const field = (name) => page.locator(`[name="${name}"]`);

/** Drives the form like a user; selects and checkboxes by their own API. */
async function setInputs(values) {
  for (const [name, value] of Object.entries(values)) {
    const el = field(name);
    const tag = await el.evaluate((e) => (e.type === 'checkbox' ? 'checkbox' : e.tagName));
    if (tag === 'SELECT') await el.selectOption(String(value));
    else if (tag === 'checkbox') await el.setChecked(Boolean(value));
    else await el.fill(String(value));
  }
}

async function checkAgainstNative(planPath) {
  await page.waitForFunction(() => !window.lrplan.pending);
  const fits = nativeFits(lrplan(planPath));
  const csv = lrplan('--format', 'csv', planPath);
  assert.ok(Object.keys(fits).length > 0, 'native summary has fits');
  for (const [phase, { init, min }] of Object.entries(fits)) {
    assert.equal(await text(`#fit-${phase}-init`), init, `${phase} init lr`);
    assert.equal(await text(`#fit-${phase}-min`), min, `${phase} min lr`);
  }
  const native = firstRows(csv);
  // The table renders a window of rows around its scroll position: scroll through all of it.
  const shown = await page.evaluate(() => {
    const wrap = document.getElementById('table');
    const rows = new Map();
    for (let top = 0; ; top += 20 * 28) {
      wrap.scrollTop = top;
      wrap.dispatchEvent(new Event('scroll'));
      for (const tr of wrap.querySelectorAll('tr[data-epoch]')) {
        rows.set(tr.dataset.epoch, [...tr.cells].map((c) => c.textContent));
      }
      if (top > wrap.scrollHeight) break;
    }
    wrap.scrollTop = 0;
    wrap.dispatchEvent(new Event('scroll'));
    return [...rows.values()];
  });
  assert.equal(shown.length, native.size, 'one table row per epoch');
  for (const [epoch, phase, batch, step, lr] of shown) {
    const row = native.get(epoch);
    assert.deepEqual({ phase, batch, step, lr }, { phase: row.phase, batch: row.batch, step: row.step, lr: row.lr },
      `table row of epoch ${epoch}`);
  }
  assert.equal(await text('#total-steps'), String(csv.trim().split('\n').length - 1), 'total steps');
  // The boundary's jump: the last frozen step's lr to the first unfrozen step's, as in the CSV.
  const steps = csv.trim().split('\n').slice(1).map((l) => l.split(','));
  const at = steps.findIndex((f) => f[3] === 'unfreeze');
  if (at > 0) {
    assert.equal(await text('#boundary'), `epoch ${steps[at][1]}: ${steps[at - 1][5]} → ${steps[at][5]}`, 'boundary');
  }
  return csv;
}

test('the default page loads cleanly and matches the native default plan', async () => {
  const plan = join(dir, 'default.toml');
  await writeFile(plan, lrplan('--print-default'));
  await checkAgainstNative(plan);
  assert.match(await text('#fit-freeze-why'), /bs 16 \/ nbs 64/);
  assert.deepEqual(env.consoleErrors, []);
});

const EDITED = {
  'optimizer.kind': 'adam', 'lr.init': '1e-3', 'lr.min': '1e-5', 'decay.kind': 'step',
  'decay.step_num': '5', 'epochs.total': '30', 'phases.freeze_epochs': '10',
  'phases.freeze_batch_size': '16', 'phases.unfreeze_batch_size': '4',
  'updates.per': 'iteration', 'updates.iters_per_epoch': '37',
};
const EDITED_TOML = `[optimizer]\nkind = "adam"\n[lr]\ninit = 1e-3\nmin = 1e-5\n[decay]\nkind = "step"\nstep_num = 5\n`
  + `[epochs]\ntotal = 30\n[phases]\nfreeze_epochs = 10\nfreeze_batch_size = 16\nunfreeze_batch_size = 4\n`
  + `[updates]\nper = "iteration"\niters_per_epoch = 37\n`;

test('typed inputs update the fitted lrs and the table exactly as the native crate computes', async () => {
  await setInputs(EDITED);
  const plan = join(dir, 'edited.toml');
  await writeFile(plan, EDITED_TOML);
  await checkAgainstNative(plan);
  // adam at bs 16 / nbs 64: 2.5e-4, clamped up to 3e-4; the boundary is marked.
  assert.match(await text('#fit-freeze-why'), /clamped up/);
  assert.match(await text('#boundary'), /^epoch 10:/);
  assert.equal(await page.locator('#problems').isVisible(), false);
  assert.deepEqual(env.consoleErrors, []);
});

test('the "Use in PyTorch" snippet holds the plan on the page', async () => {
  // Still the typed plan of the test above: the plan file in the snippet gives its table.
  const snippet = await text('#pytorch-snippet');
  const plan = snippet.match(/^plan = lrplan\.Plan\.from_toml\('''\n([^]*?)'''\)$/m);
  assert.ok(plan, snippet);
  assert.match(plan[1], /^kind = "adam"$/m);
  assert.doesNotMatch(plan[1], /#/);
  const embedded = join(dir, 'snippet.toml');
  await writeFile(embedded, plan[1]);
  assert.equal(lrplan('--format', 'csv', embedded), lrplan('--format', 'csv', join(dir, 'edited.toml')));
  assert.match(snippet, /^scheduler = PlanScheduler\(optimizer, plan\)/m);
});

test('an invalid field is marked with the schedule crate message and the last curve stays', async () => {
  const before = await text('#fit-unfreeze-init');
  const pixels = () => page.locator('#chart').evaluate((c) => c.toDataURL());
  const chart = await pixels();
  await setInputs({ 'lr.init': '-1' });
  assert.equal(await text('[data-error-for="lr.init"]'), 'must be a finite number greater than 0 (got -1)');
  assert.equal(await field('lr.init').getAttribute('aria-invalid'), 'true');
  assert.ok(await page.locator('#problems').isVisible());
  assert.equal(await text('#fit-unfreeze-init'), before, 'last valid numbers stay');
  assert.equal(await pixels(), chart, 'last valid curve stays');
  assert.ok(await page.locator('#download-plan').isDisabled());

  await setInputs({ 'epochs.total': 'ten' });
  assert.match(await text('[data-error-for="epochs.total"]'), /must be a whole number/);
  await setInputs({ 'lr.init': '1e-3', 'epochs.total': '30' });
  assert.equal(await page.locator('#problems').isVisible(), false);
  assert.equal(await text('[data-error-for="lr.init"]'), '');
  assert.deepEqual(env.consoleErrors, []);
});

test('per-iteration updates from an empty dataset size are marked at the dataset-size input', async () => {
  // The schedule crate files this under updates.iters_per_epoch, whose input is hidden here.
  await setInputs({ 'updates.source': 'dataset_size', 'updates.dataset_size': '' });
  assert.ok(await field('updates.dataset_size').isVisible());
  assert.equal(await field('updates.iters_per_epoch').isVisible(), false);
  assert.equal(await text('[data-error-for="updates.dataset_size"]'), 'is needed for per-iteration updates (got nothing)');
  assert.equal(await field('updates.dataset_size').getAttribute('aria-invalid'), 'true');
  assert.equal(await field('updates.iters_per_epoch').getAttribute('aria-invalid'), null);
  assert.deepEqual(await page.locator('#problem-list li').allInnerTexts(),
    ['updates.dataset_size is needed for per-iteration updates (got nothing)']);
  assert.ok(await page.locator('#download-plan').isDisabled());
  // With a fixed count chosen, an empty count is marked at its own input.
  await setInputs({ 'updates.source': 'iters_per_epoch', 'updates.iters_per_epoch': '' });
  assert.match(await text('[data-error-for="updates.iters_per_epoch"]'), /^or updates\.dataset_size is needed/);
  assert.equal(await text('[data-error-for="updates.dataset_size"]'), '');
  await setInputs({ 'updates.iters_per_epoch': '37' });
  assert.equal(await page.locator('#problems').isVisible(), false);
  assert.deepEqual(env.consoleErrors, []);
});

test('the downloaded plan file reproduces the downloaded table in the native CLI, byte for byte', async () => {
  const save = async (button, name) => {
    const [download] = await Promise.all([page.waitForEvent('download'), page.click(button)]);
    assert.equal(download.suggestedFilename(), name);
    const path = join(dir, `downloaded-${name}`);
    await download.saveAs(path);
    return path;
  };
  const planPath = await save('#download-plan', 'plan.toml');
  const csvPath = await save('#download-csv', 'lr_table.csv');
  const pageCsv = await readFile(csvPath);
  const nativeCsv = execFileSync(BIN, ['--format', 'csv', planPath]);
  assert.ok(pageCsv.equals(nativeCsv), 'page CSV == lrplan --format csv plan.toml');
  // And the file describes the plan that was typed, not just one with the same table.
  const typed = join(dir, 'edited.toml');
  assert.equal(lrplan(planPath).split('\n').slice(1).join('\n'), lrplan(typed).split('\n').slice(1).join('\n'));
  assert.deepEqual(env.consoleErrors, []);
});

test('plan files load by picker and by drag-and-drop; errors are shown; a link reproduces the page', async () => {
  const fixture = join(ROOT, 'crates/web/tests/plans/linear_dataset_resume.toml');
  await page.setInputFiles('#import-file', fixture);
  await page.waitForFunction(() => document.getElementById('import-status').textContent.startsWith('Loaded'));
  assert.equal(await field('updates.source').inputValue(), 'dataset_size');
  assert.equal(await field('updates.dataset_size').inputValue(), '1000');
  await checkAgainstNative(fixture);

  // A broken file is refused with the schedule crate's reader's message (line and field).
  const broken = join(dir, 'broken.toml');
  await writeFile(broken, '[decay]\nkind = "cosine"\n');
  await page.setInputFiles('#import-file', broken);
  await page.waitForFunction(() => document.getElementById('import-status').textContent.startsWith('Could not load'));
  assert.equal(await text('#import-status'),
    'Could not load: plan file: line 2: decay.kind must be one of cos, step, linear, constant (got "cosine")');
  assert.ok(await page.locator('#import-status.bad').isVisible());
  await checkAgainstNative(fixture); // unchanged

  const dropped = join(ROOT, 'crates/web/tests/plans/constant_adamw_epoch.toml');
  const content = await readFile(dropped, 'utf8');
  await page.evaluate((toml) => {
    const dt = new DataTransfer();
    dt.items.add(new File([toml], 'dropped.toml', { type: 'text/plain' }));
    document.querySelector('main').dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
  }, content);
  await page.waitForFunction(() => document.getElementById('import-status').textContent === 'Loaded dropped.toml.');
  await checkAgainstNative(dropped);

  // The link: a fresh tab opened on the URL shows the same plan.
  await page.waitForFunction(() => !window.lrplan.pending);
  const link = page.url();
  assert.match(link, /#.*decay\.kind=constant/);
  const other = await env.open(link.slice(env.url.length));
  for (const name of ['optimizer.kind', 'lr.init', 'decay.kind', 'epochs.total', 'phases.freeze', 'phases.unfreeze_batch_size']) {
    const read = (p) => p.locator(`[name="${name}"]`).evaluate((e) => (e.type === 'checkbox' ? String(e.checked) : e.value));
    assert.equal(await read(other), await read(page), `${name} from the link`);
  }
  assert.equal(await other.locator('#fit-unfreeze-init').innerText(), await text('#fit-unfreeze-init'));
  await other.close();
  assert.deepEqual(env.consoleErrors, []);
});

test('compare, log scale and the cursor readout; screenshot', async () => {
  await page.click('#pin');
  assert.match(await text('#pinned-label'), /^pinned: constant/);
  await setInputs({ 'decay.kind': 'cos', 'optimizer.kind': 'sgd', 'lr.init': '0.01', 'lr.min': '0.0001',
    'epochs.total': '40', 'phases.freeze': true, 'phases.freeze_epochs': '12', 'phases.freeze_batch_size': '16',
    'phases.unfreeze_batch_size': '4', 'updates.per': 'iteration', 'updates.source': 'iters_per_epoch',
    'updates.iters_per_epoch': '200' });
  await page.check('[id="view.log"]');
  const box = await page.locator('#chart').boundingBox();
  await page.mouse.move(box.x + box.width * 0.45, box.y + box.height * 0.5);
  assert.ok(await page.locator('#marker').isVisible());
  const readout = await text('#readout');
  const m = readout.match(/^epoch (\d+), iteration (\d+) · (\w+) · lr (\S+)$/);
  assert.ok(m, `readout: ${readout}`);
  const plan = join(dir, 'hover.toml');
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download-plan')]);
  await download.saveAs(plan);
  const row = lrplan('--format', 'csv', plan).split('\n').find((l) => l.split(',')[1] === m[1] && l.split(',')[2] === m[2]);
  assert.ok(row, 'hovered step exists natively');
  assert.equal(row.split(',')[5], m[4], 'hovered lr == native lr');
  await page.mouse.move(box.x + box.width * 0.45, box.y + box.height * 0.5);

  await mkdir(join(ROOT, 'artifacts'), { recursive: true });
  await page.screenshot({ path: join(ROOT, 'artifacts/planner.png') });
  assert.deepEqual(env.consoleErrors, []);
});

/** Whether a canvas has a drawn (non-white) pixel. */
const drawn = (p) => p.locator('#chart').evaluate((c) => {
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  return d.some((v, i) => i % 4 !== 3 && v < 200);
});

test('any link leaves a working page: malformed escapes, values a select cannot show', async () => {
  const other = await env.open('#lr.init=5%&epochs.total=40');
  const t = (sel) => other.locator(sel).first().innerText();
  assert.equal(await other.locator('[name="lr.init"]').inputValue(), '5%');
  assert.equal(await t('[data-error-for="lr.init"]'), 'must be a number (got "5%")');
  assert.ok(await other.locator('#problems').isVisible());
  assert.equal(await t('#total-steps'), '300', 'the default plan is drawn meanwhile');
  assert.ok(await drawn(other), 'chart drawn');
  assert.equal(await other.locator('#fatal').isVisible(), false);

  await other.click('#reset');
  await other.waitForFunction(() => document.getElementById('import-status').textContent === 'Reset to the default plan.');
  assert.equal(await other.locator('#problems').isVisible(), false);
  assert.equal(await other.locator('[name="lr.init"]').inputValue(), '0.01');
  assert.equal(await other.locator('[name="epochs.total"]').inputValue(), '300');

  // A link edited in the address bar: a bad escape, a kind and a flag the form cannot show.
  await other.evaluate(() => { location.hash = 'decay.kind=cosine&lr.init=%E0%A4%A&phases.freeze=maybe&epochs.total=40'; });
  await other.waitForFunction(() => document.getElementById('import-status').textContent.startsWith('Loaded the plan'));
  assert.equal(await t('#import-status'), 'Loaded the plan from the link. The link\'s decay.kind must be one of cos, '
    + 'step, linear, constant (got "cosine"); phases.freeze must be true or false (got "maybe"): the default is kept.');
  assert.ok(await other.locator('#import-status.bad').isVisible());
  assert.equal(await other.locator('[name="decay.kind"]').inputValue(), 'cos');
  assert.equal(await other.locator('[name="phases.freeze"]').isChecked(), true);
  assert.equal(await other.locator('[name="epochs.total"]').inputValue(), '40');
  assert.match(await t('[data-error-for="lr.init"]'), /^must be a number \(got "/);
  assert.equal(await other.locator('#fatal').isVisible(), false);
  await other.close();

  // Opened on such a link, the page says so at once.
  const fresh = await env.open('#optimizer.kind=sgdw');
  assert.equal(await fresh.locator('#import-status').innerText(),
    'The link\'s optimizer.kind must be one of sgd, adam, adamw (got "sgdw"): the default is kept.');
  assert.ok(await drawn(fresh));
  await fresh.close();
  assert.deepEqual(env.consoleErrors, []);
});

test('the page and the CLI accept and refuse the same files: byte-order mark, UTF-16, binary', async () => {
  const status = () => text('#import-status');
  const bom = join(dir, 'bom.toml');
  await writeFile(bom, `\uFEFF${EDITED_TOML.replaceAll('\n', '\r\n')}`);
  await page.setInputFiles('#import-file', bom);
  await page.waitForFunction(() => document.getElementById('import-status').textContent === 'Loaded bom.toml.');
  await checkAgainstNative(bom);

  const utf16 = join(dir, 'utf16.toml');
  await writeFile(utf16, Buffer.from(`\uFEFF${EDITED_TOML}`, 'utf16le'));
  // torch.save's zip: valid UTF-8 up to its first high byte, full of control characters.
  const pth = join(dir, 'model.pth');
  await writeFile(pth, Buffer.from('PK\x03\x04\x14\x00\x00\x00\x08\x00archive/data.pkl', 'latin1'));
  const legacy = join(dir, 'legacy.pth');
  await writeFile(legacy, Buffer.from([0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20]));
  for (const file of [utf16, pth, legacy]) {
    const want = `Could not load: ${nativeRefusal(file)}`;
    await page.setInputFiles('#import-file', file);
    await page.waitForFunction((w) => document.getElementById('import-status').textContent === w, want);
    assert.doesNotMatch(await status(), /[\x00-\x1f\x7f]/, 'printable');
  }
  assert.match(nativeRefusal(utf16), /UTF-16/);
  assert.match(nativeRefusal(pth), /control character U\+0003/);
  assert.match(nativeRefusal(legacy), /byte 0x80 is not UTF-8/);
  await checkAgainstNative(bom); // unchanged by the refused files
  assert.deepEqual(env.consoleErrors, []);
});

test('page messages: the maximum of a whole number, numbers as written, a huge rate in the legend', async () => {
  await setInputs({ 'optimizer.kind': 'adam', 'decay.kind': 'step', 'decay.step_num': '5', 'phases.freeze': true,
    'phases.freeze_epochs': '10', 'phases.freeze_batch_size': '16', 'phases.unfreeze_batch_size': '4' });
  await setInputs({ 'updates.per': 'epoch', 'epochs.total': '4294967296' });
  assert.equal(await text('[data-error-for="epochs.total"]'), 'must be at most 4294967295 (got "4294967296")');
  await setInputs({ 'epochs.total': '30', 'updates.per': 'iteration', 'updates.source': 'dataset_size',
    'updates.dataset_size': '18446744073709551616' });
  assert.equal(await text('[data-error-for="updates.dataset_size"]'),
    'must be a whole number from 0 to 18446744073709551615 (got "18446744073709551616")');
  await setInputs({ 'updates.dataset_size': '1000', 'updates.per': 'epoch', 'lr.init': '1e-320', 'lr.min': '1e-4' });
  assert.equal(await text('[data-error-for="lr.min"]'), 'must not exceed lr.init (1e-320) (got 0.0001)');

  await setInputs({ 'lr.init': '1e308' });
  assert.equal(await page.locator('#problems').isVisible(), false);
  if (await page.evaluate(() => window.lrplan.planner.pinned_label() !== undefined)) await page.click('#pin');
  await page.click('#pin');
  assert.equal(await text('#pinned-label'), 'pinned: step · adam · init 1e308 · bs 16→4 · 30 ep · per epoch');
  await page.click('#pin');
  assert.deepEqual(env.consoleErrors, []);
});

test('Download CSV writes a long table in pieces, and refuses a huge one with its size', async () => {
  await setInputs({ 'decay.kind': 'cos', 'optimizer.kind': 'sgd', 'lr.init': '0.01', 'lr.min': '0.0001',
    'epochs.total': '30', 'phases.freeze': true, 'phases.freeze_epochs': '10', 'phases.freeze_batch_size': '16',
    'phases.unfreeze_batch_size': '4', 'updates.per': 'iteration', 'updates.source': 'iters_per_epoch',
    'updates.iters_per_epoch': '10000' });
  assert.equal(await text('#total-steps'), '300000');
  const plan = join(dir, 'long.toml');
  const [planDownload] = await Promise.all([page.waitForEvent('download'), page.click('#download-plan')]);
  await planDownload.saveAs(plan);
  const native = await checkAgainstNative(plan);
  const [csvDownload] = await Promise.all([page.waitForEvent('download'), page.click('#download-csv')]);
  const csvPath = join(dir, 'long.csv');
  await csvDownload.saveAs(csvPath);
  assert.ok((await readFile(csvPath, 'utf8')) === native, 'page CSV (3 pieces) == lrplan --format csv');
  assert.equal(await text('#import-status'), 'Wrote lr_table.csv.');

  // 1000 epochs of 100,000 iterations: 10^8 rows, about 4.6 GB.
  await setInputs({ 'epochs.total': '1000', 'updates.iters_per_epoch': '100000' });
  assert.equal(await text('#total-steps'), '100000000');
  await page.click('#download-csv');
  await page.waitForFunction(() => document.getElementById('import-status').textContent.startsWith('Could not download'));
  const refusal = await text('#import-status');
  assert.match(refusal, /^Could not download lr_table\.csv: the CSV would be about 4\.\d GB \(100000000 rows\); /);
  assert.ok(refusal.endsWith('; the page writes at most 1 GB. Download plan.toml and run: '
    + 'lrplan --format csv plan.toml > lr_table.csv'), refusal);
  assert.equal(await page.locator('#fatal').isVisible(), false);
  await setInputs({ 'epochs.total': '30', 'updates.iters_per_epoch': '100' });
  assert.deepEqual(env.consoleErrors, []);
});

test('a Rust panic surfaces as a visible message', async () => {
  await page.evaluate(() => { try { window.lrplan.panicForTest(); } catch (e) { /* shown by the hook */ } });
  assert.ok(await page.locator('#fatal').isVisible());
  assert.match(await text('#fatal'), /test panic requested by the page/);
  assert.ok(env.consoleErrors.some((e) => e.includes('test panic requested by the page')), 'panic logged to the console');
});

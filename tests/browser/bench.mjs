// Redraw benchmark: a per-iteration plan of 300 epochs x 10,000 iterations (3 million steps) in
// headless Chromium. Each sample changes an input the way typing does (an `input` event) and
// reads the time the page's handler took to recompile the plan, draw the chart and refresh the
// numbers and table (`window.lrplan.lastUpdateMs`, measured in the page), then waits a frame.
//
//   node tests/browser/bench.mjs          (after scripts/build-web.sh)
import { openPlanner } from './harness.mjs';

const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 60);
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
const p90 = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length * 0.9)]; };

async function run(deviceScaleFactor) {
  const env = await openPlanner({ deviceScaleFactor });
  try {
    const { page } = env;
    const set = async (name, value) => {
      const el = page.locator(`[name="${name}"]`);
      if ((await el.evaluate((e) => e.tagName)) === 'SELECT') await el.selectOption(value);
      else await el.fill(value);
    };
    await set('updates.per', 'iteration');
    await set('updates.source', 'iters_per_epoch');
    await set('updates.iters_per_epoch', '10000');
    await set('epochs.total', '300');
    const steps = await page.locator('#total-steps').innerText();
    if (steps !== '3000000') throw new Error(`expected 3000000 steps, page shows ${steps}`);

    const samples = await page.evaluate(async (n) => {
      const input = document.querySelector('[name="lr.init"]');
      const frame = () => new Promise((ok) => requestAnimationFrame(() => setTimeout(ok, 0)));
      const tableDone = () => new Promise((ok) => setTimeout(ok, 40));
      const out = [];
      for (let i = 0; i < n; i++) {
        input.value = i % 2 ? '0.01' : '0.012';
        input.dispatchEvent(new Event('input', { bubbles: true }));
        const update = window.lrplan.lastUpdateMs;
        await tableDone();
        out.push([update, window.lrplan.lastTableMs]);
        await frame();
      }
      return out;
    }, SAMPLES + 5);
    const timed = samples.slice(5); // the first few include wasm/JIT warm-up
    if (env.consoleErrors.length) throw new Error(`console errors: ${env.consoleErrors.join('; ')}`);
    const redraw = timed.map((s) => s[0]);
    const settle = timed.map((s) => s[1]);
    return { median: median(redraw), p90: p90(redraw), n: timed.length, settle: median(settle) };
  } finally {
    await env.close();
  }
}

for (const dpr of [1, 2]) {
  const r = await run(dpr);
  console.log(`redraw after an input change (recompile + chart + fitted-lr panel), 3,000,000-step plan, `
    + `devicePixelRatio ${dpr}: median ${r.median.toFixed(2)} ms, p90 ${r.p90.toFixed(2)} ms over ${r.n} changes `
    + `(budget: median < 8 ms); table refresh 30 ms later: median ${r.settle.toFixed(2)} ms`);
}

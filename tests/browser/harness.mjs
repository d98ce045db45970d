// Shared by the end-to-end test and the benchmark: serve web/ on 127.0.0.1 and open the page in
// the system Chromium (never a downloaded browser) with a fresh profile.
import { createServer } from 'node:http';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { extname, join, normalize, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
export const WEB = join(ROOT, 'web');

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.wasm': 'application/wasm',
  '.toml': 'text/plain; charset=utf-8',
};

/** A tiny static file server for web/, like any the page will be deployed on. */
export async function serve(dir = WEB) {
  const server = createServer(async (req, res) => {
    const path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    const file = normalize(join(dir, path.endsWith('/') ? `${path}index.html` : path));
    if (!file.startsWith(dir)) { res.writeHead(403).end(); return; }
    try {
      const body = await readFile(file);
      res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' });
      res.end(body);
    } catch {
      res.writeHead(404).end('not found');
    }
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  return { server, url: `http://127.0.0.1:${server.address().port}/` };
}

/** Launches Chromium with a fresh user-data-dir and opens the planner; collects console errors. */
export async function openPlanner({ deviceScaleFactor = 1, hash = '' } = {}) {
  const { server, url } = await serve();
  const profile = await mkdtemp(join(tmpdir(), 'lrplan-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--no-first-run',
    ],
    acceptDownloads: true,
    viewport: { width: 1440, height: 1100 },
    deviceScaleFactor,
  });
  const consoleErrors = [];
  const watch = (page) => {
    page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
    page.on('pageerror', (e) => consoleErrors.push(String(e)));
  };
  context.on('page', watch);
  const open = async (suffix = hash) => {
    const page = await context.newPage();
    await page.goto(url + suffix);
    await page.waitForSelector('body[data-ready="true"]', { timeout: 20000 });
    return page;
  };
  const page = await open();
  return {
    url, context, page, open, consoleErrors,
    async close() {
      await context.close();
      server.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}

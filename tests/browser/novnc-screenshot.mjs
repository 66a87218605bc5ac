#!/usr/bin/env node
// Points noVNC, a real browser VNC client, at a VNC websocket in headless Chromium and saves what it drew.
//
//   node tests/browser/novnc-screenshot.mjs <ws://… or wss://…> <out.png> [timeout-seconds]
//
// The page comes from a throwaway HTTP server on 127.0.0.1 (module scripts do not load from file://) and
// imports noVNC's ES module straight from node_modules. It connects with the subprotocol plain.kubevirt.io,
// waits for the `connect` event and a fully drawn canvas, and writes the canvas's own pixels as PNG
// (canvas.toDataURL, so no scaling or colour management sits between the framebuffer and the file).
// On success it prints one JSON line: {"desktopName", "width", "height"}. Chromium is the machine's
// (/usr/bin/chromium, or $CHROMIUM); nothing is downloaded.
import http from 'node:http';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const [wsUrl, out, timeoutArg, bearer] = process.argv.slice(2);
if (!wsUrl || !out || !/^wss?:\/\//.test(wsUrl)) {
  console.error('usage: novnc-screenshot.mjs <ws-url> <out.png> [timeout-seconds [bearer-token]]');
  process.exit(2);
}
const timeout = Number(timeoutArg ?? 30) * 1000;
const deadline = Date.now() + timeout;
const remaining = () => Math.max(1, deadline - Date.now());

// The package's "exports" is core/rfb.js; everything it imports sits beside it.
const novnc = path.dirname(path.dirname(fileURLToPath(import.meta.resolve('@novnc/novnc'))));

const page = `<!doctype html>
<meta charset="utf-8">
<body style="margin:0">
<div id="screen"></div>
<script type="module">
  import RFB from '/novnc/core/rfb.js';
  const query = new URLSearchParams(location.search);
  const url = query.get('url');
  // A browser cannot set Authorization on a websocket: Kubernetes takes the bearer token as a subprotocol.
  const protocols = ['plain.kubevirt.io'];
  if (query.get('bearer')) {
    protocols.push('base64url.bearer.authorization.k8s.io.' + btoa(query.get('bearer')).replace(/[+]/g, '-').replace(/[/]/g, '_').replace(/=+$/, ''));
  }
  window.vnc = { state: 'connecting' };
  const rfb = new RFB(document.getElementById('screen'), url, { wsProtocols: protocols });
  rfb.viewOnly = true;
  rfb.addEventListener('connect', () => { window.vnc.state = 'connected'; });
  rfb.addEventListener('disconnect', e => { window.vnc.state = 'disconnected'; window.vnc.clean = e.detail.clean; });
  rfb.addEventListener('desktopname', e => { window.vnc.desktopName = e.detail.name; });
  window.rfb = rfb;
</script>`;

const types = { '.js': 'text/javascript', '.mjs': 'text/javascript', '.json': 'application/json' };
const server = http.createServer(async (request, response) => {
  const { pathname } = new URL(request.url, 'http://127.0.0.1');
  if (pathname === '/') {
    response.writeHead(200, { 'content-type': 'text/html' }).end(page);
    return;
  }
  const file = path.resolve(novnc, '.' + decodeURIComponent(pathname.replace(/^\/novnc/, '')));
  if (!pathname.startsWith('/novnc/') || !file.startsWith(novnc + path.sep)) {
    response.writeHead(404).end();
    return;
  }
  try {
    const body = await fs.readFile(file);
    response.writeHead(200, { 'content-type': types[path.extname(file)] ?? 'application/octet-stream' }).end(body);
  } catch {
    response.writeHead(404).end();
  }
});
await new Promise(resolve => server.listen(0, '127.0.0.1', resolve));

const log = [];
let browser;
try {
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
    timeout: remaining(),
  });
  const tab = await browser.newPage();
  tab.on('console', m => log.push(`console.${m.type()}: ${m.text()}`));
  tab.on('pageerror', e => log.push(`pageerror: ${e.message}`));
  await tab.goto(`http://127.0.0.1:${server.address().port}/?url=${encodeURIComponent(wsUrl)}${bearer ? `&bearer=${encodeURIComponent(bearer)}` : ''}`, { timeout: remaining() });

  await tab.waitForFunction(() => window.vnc && window.vnc.state !== 'connecting', null, { timeout: remaining(), polling: 50 });
  const state = await tab.evaluate(() => window.vnc.state);
  if (state !== 'connected') throw new Error(`noVNC did not connect (state ${state})`);

  // noVNC flips its back buffer onto the canvas when a FramebufferUpdate is complete: wait for opaque corners.
  await tab.waitForFunction(() => {
    const canvas = document.querySelector('#screen canvas');
    if (!canvas || canvas.width === 0 || canvas.height === 0) return false;
    const context = canvas.getContext('2d');
    const first = context.getImageData(0, 0, 1, 1).data[3];
    const last = context.getImageData(canvas.width - 1, canvas.height - 1, 1, 1).data[3];
    return first === 255 && last === 255;
  }, null, { timeout: remaining(), polling: 50 });

  const result = await tab.evaluate(() => {
    const canvas = document.querySelector('#screen canvas');
    return { desktopName: window.vnc.desktopName ?? null, width: canvas.width, height: canvas.height, png: canvas.toDataURL('image/png') };
  });
  await fs.writeFile(out, Buffer.from(result.png.slice(result.png.indexOf(',') + 1), 'base64'));
  await tab.evaluate(() => window.rfb.disconnect());
  console.log(JSON.stringify({ desktopName: result.desktopName, width: result.width, height: result.height }));
} catch (e) {
  console.error(`novnc-screenshot: ${e.message}`);
  for (const line of log) console.error(line);
  process.exitCode = 1;
} finally {
  await browser?.close();
  server.close();
}

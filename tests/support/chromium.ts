/**
 * Headless Chromium (Debian's `chromium`) driven over the DevTools protocol through Deno's
 * own WebSocket, for the auditor's page tests: open a page, wait until the page says it is
 * done (`body[data-state="done"]`, awaited inside the page: no sleeps), read attributes,
 * set a file input (what a drop does), take a full-page screenshot. `--dump-dom` cannot
 * wait for the page's asynchronous verification (fetches, WebAssembly, WebCrypto), and
 * `--virtual-time-budget` only approximates it; the protocol waits for the real event.
 *
 * @module
 */
import { join } from "node:path";

/** Longest wait for Chromium to print its DevTools address. */
export const LAUNCH_MS_MAX = 30_000;
/** Longest wait for one protocol command (a page's whole verification included). */
export const COMMAND_MS_MAX = 60_000;
/** Viewport of the pages, CSS pixels. */
export const VIEWPORT = { width: 1200, height: 900 } as const;

/** The Chromium binary, or null when none is installed. */
export function chromiumPath(): string | null {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    for (const name of ["chromium", "chromium-browser"]) {
      try {
        const path = join(dir, name);
        if (Deno.statSync(path).isFile) return path;
      } catch {
        // not in this directory
      }
    }
  }
  return null;
}

type Pending = { resolve: (v: Record<string, unknown>) => void; reject: (e: Error) => void };
type Listener = (params: Record<string, unknown>, sessionId: string | undefined) => void;

/** One tab. */
export interface Page {
  /** Evaluates `expression` in the page, awaiting a promise it returns; the value as JSON. */
  evaluate<T = unknown>(expression: string): Promise<T>;
  /** Resolves once `body[data-state="done"]`. */
  waitDone(): Promise<void>;
  /** Sets the files of the `<input type=file>` matched by `selector` (fires `change`). */
  setFiles(selector: string, paths: string[]): Promise<void>;
  /** Writes a full-page PNG screenshot to `path`. */
  screenshot(path: string): Promise<void>;
  /** Console messages, exceptions and browser log entries seen so far. */
  log(): string[];
  close(): Promise<void>;
}

/** A running headless Chromium. */
export interface Browser {
  /** Opens `url` in a new tab (its own session storage) and waits for its load event. */
  open(url: string): Promise<Page>;
  close(): Promise<void>;
}

/** Starts headless Chromium with a fresh profile. */
export async function launchChromium(executable: string): Promise<Browser> {
  const profile = await Deno.makeTempDir({ prefix: "audit_chromium_" });
  const child = new Deno.Command(executable, {
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
      "--no-default-browser-check",
      `--user-data-dir=${profile}`,
      "--remote-debugging-port=0",
      `--window-size=${VIEWPORT.width},${VIEWPORT.height}`,
      "about:blank",
    ],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const wsUrl = await devtoolsUrl(child.stderr);
  const ws = new WebSocket(wsUrl);
  await new Promise<void>((resolve, reject) => {
    ws.onopen = () => resolve();
    ws.onerror = () => reject(new Error("Cannot connect to Chromium's DevTools socket"));
  });
  let nextId = 1;
  const pending = new Map<number, Pending>();
  const listeners = new Map<string, Set<Listener>>();
  ws.onmessage = (event) => {
    const msg = JSON.parse(String(event.data));
    if (typeof msg.id === "number") {
      const p = pending.get(msg.id);
      pending.delete(msg.id);
      if (msg.error) p?.reject(new Error(`CDP ${msg.error.message}`));
      else p?.resolve(msg.result ?? {});
      return;
    }
    for (const l of listeners.get(msg.method) ?? []) l(msg.params ?? {}, msg.sessionId);
  };
  const send = (method: string, params: unknown = {}, sessionId?: string) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const id = nextId++;
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new Error(`CDP ${method}: no answer in ${COMMAND_MS_MAX} ms`));
      }, COMMAND_MS_MAX);
      pending.set(id, {
        resolve: (v) => (clearTimeout(timer), resolve(v)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      });
      ws.send(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }));
    });
  const on = (method: string, l: Listener) => {
    if (!listeners.has(method)) listeners.set(method, new Set());
    listeners.get(method)!.add(l);
    return () => listeners.get(method)!.delete(l);
  };

  async function open(url: string): Promise<Page> {
    const { targetId } = await send("Target.createTarget", { url: "about:blank" });
    const { sessionId } = await send("Target.attachToTarget", { targetId, flatten: true }) as {
      sessionId: string;
    };
    const lines: string[] = [];
    const mine = (f: Listener): Listener => (p, s) => s === sessionId && f(p, s);
    const offs = [
      on("Runtime.consoleAPICalled", mine((p) => lines.push(`console: ${JSON.stringify(p.args)}`))),
      on("Runtime.exceptionThrown", mine((p) => lines.push(`exception: ${JSON.stringify(p)}`))),
      on("Log.entryAdded", mine((p) => lines.push(`log: ${JSON.stringify(p.entry)}`))),
    ];
    for (const domain of ["Page", "Runtime", "Log"]) await send(`${domain}.enable`, {}, sessionId);
    await send("Emulation.setDeviceMetricsOverride", {
      ...VIEWPORT,
      deviceScaleFactor: 1,
      mobile: false,
    }, sessionId);
    const loaded = new Promise<void>((resolve) => {
      const off = on("Page.loadEventFired", mine(() => (off(), resolve())));
    });
    await send("Page.navigate", { url }, sessionId);
    await loaded;
    const page: Page = {
      async evaluate<T>(expression: string): Promise<T> {
        const r = await send("Runtime.evaluate", {
          expression,
          awaitPromise: true,
          returnByValue: true,
        }, sessionId) as { result: { value: T }; exceptionDetails?: unknown };
        if (r.exceptionDetails) throw new Error(`page: ${JSON.stringify(r.exceptionDetails)}`);
        return r.result.value;
      },
      async waitDone() {
        await page.evaluate(`new Promise((resolve) => {
          const done = () => document.body && document.body.dataset.state === "done";
          if (done()) return resolve(true);
          new MutationObserver(() => done() && resolve(true))
            .observe(document.documentElement, { subtree: true, attributes: true });
        })`);
      },
      async setFiles(selector, paths) {
        const { root } = await send("DOM.getDocument", {}, sessionId) as {
          root: { nodeId: number };
        };
        const { nodeId } = await send("DOM.querySelector", {
          nodeId: root.nodeId,
          selector,
        }, sessionId);
        await send("DOM.setFileInputFiles", { nodeId, files: paths }, sessionId);
      },
      async screenshot(path) {
        const metrics = await send("Page.getLayoutMetrics", {}, sessionId) as {
          cssContentSize: { width: number; height: number };
        };
        const { data } = await send("Page.captureScreenshot", {
          format: "png",
          captureBeyondViewport: true,
          clip: {
            x: 0,
            y: 0,
            width: Math.ceil(metrics.cssContentSize.width),
            height: Math.ceil(metrics.cssContentSize.height),
            scale: 1,
          },
        }, sessionId) as { data: string };
        await Deno.writeFile(path, Uint8Array.from(atob(data), (c) => c.charCodeAt(0)));
      },
      log: () => [...lines],
      async close() {
        for (const off of offs) off();
        await send("Target.closeTarget", { targetId });
      },
    };
    return page;
  }

  return {
    open,
    async close() {
      try {
        await send("Browser.close");
      } catch {
        child.kill("SIGKILL");
      }
      ws.close();
      await child.status;
      await Deno.remove(profile, { recursive: true }).catch(() => undefined);
    },
  };
}

/** Reads Chromium's stderr until it prints `DevTools listening on ws://…`; drains the rest. */
async function devtoolsUrl(stderr: ReadableStream<Uint8Array>): Promise<string> {
  const reader = stderr.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  const deadline = setTimeout(() => reader.cancel(), LAUNCH_MS_MAX);
  try {
    while (true) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`Chromium exited before DevTools was up:\n${text}`);
      text += value;
      const m = /DevTools listening on (ws:\/\/\S+)/.exec(text);
      if (m) {
        (async () => {
          while (!(await reader.read()).done) { /* drain: a full pipe would block Chromium */ }
        })().catch(() => undefined);
        return m[1]!;
      }
    }
  } finally {
    clearTimeout(deadline);
  }
}

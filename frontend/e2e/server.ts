// Starts the real order-notify binary for the end-to-end run: a fresh SQLite file, the
// sandbox provider, the built dashboard from dist/. Its first-start sign-in link is
// handed to the specs.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    baseUrl: string;
    signInLink: string;
  }
}

/** The server binary: ORDER_NOTIFY_BIN, else the one `cargo test` built. */
function binary(): string {
  if (process.env.ORDER_NOTIFY_BIN) return resolve(process.env.ORDER_NOTIFY_BIN);
  const target = process.env.CARGO_TARGET_DIR ?? resolve('..', 'target');
  return join(target, 'debug', 'order-notify');
}

function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const probe = createServer();
    probe.once('error', fail);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      probe.close(() => done(port));
    });
  });
}

async function waitUntilReady(baseUrl: string, server: ChildProcess): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (server.exitCode !== null) throw new Error(`order-notify exited with ${server.exitCode}`);
    try {
      if ((await fetch(`${baseUrl}/readyz`)).ok) return;
    } catch {
      // Not listening yet.
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('order-notify did not become ready within 30 s');
}

export interface ServerOptions {
  /** Reuse a folder (and so its database); a new temporary one by default. */
  dir?: string;
  port?: number;
  /** ORDER_NOTIFY_ADMIN_KEY, for a test that needs to know the key up front. */
  adminKey?: string;
  /** More settings (ORDER_NOTIFY_…), over the defaults above. */
  env?: Record<string, string>;
}

export interface RunningServer {
  baseUrl: string;
  port: number;
  dir: string;
  process: ChildProcess;
  /** SIGTERM, and wait for the exit. */
  stop(): Promise<void>;
  /** Deletes the folder (after stop). */
  remove(): void;
}

/** Starts the binary on a SQLite file in `dir` with the sandbox provider and dist/. */
export async function startServer(options: ServerOptions = {}): Promise<RunningServer> {
  const bin = binary();
  if (!existsSync(bin)) {
    throw new Error(`No server binary at ${bin}: run \`cargo build\` (or set ORDER_NOTIFY_BIN).`);
  }
  const dist = resolve('dist');
  if (!existsSync(join(dist, 'index.html'))) {
    throw new Error('No built dashboard in dist/: run `npm run build` first.');
  }
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'order-notify-e2e-'));
  const port = options.port ?? (await freePort());
  const baseUrl = `http://127.0.0.1:${port}`;
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    ORDER_NOTIFY_BIND: `127.0.0.1:${port}`,
    ORDER_NOTIFY_DATABASE_URL: `sqlite://${join(dir, 'e2e.db')}?mode=rwc`,
    ORDER_NOTIFY_STATIC_DIR: dist,
    ORDER_NOTIFY_SMS_PROVIDER: 'sandbox',
    RUST_LOG: process.env.RUST_LOG ?? 'warn',
  };
  if (options.adminKey) env.ORDER_NOTIFY_ADMIN_KEY = options.adminKey;
  Object.assign(env, options.env ?? {});
  const server = spawn(bin, ['serve'], { cwd: dir, env, stdio: ['ignore', 'pipe', 'inherit'] });
  await waitUntilReady(baseUrl, server);
  return {
    baseUrl,
    port,
    dir,
    process: server,
    async stop() {
      if (server.exitCode !== null || server.signalCode !== null) return;
      server.kill('SIGTERM');
      await new Promise((r) => server.once('exit', r));
    },
    remove() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export default async function setup(project: TestProject) {
  // The webhook test's receiver listens on 127.0.0.1, which only this opt-in lets the
  // server call.
  const server = await startServer({ env: { ORDER_NOTIFY_WEBHOOKS_ALLOW_PRIVATE_NETWORKS: 'true' } });
  let stdout = '';
  const signInLink = new Promise<string>((done, fail) => {
    const scan = (chunk: Buffer) => {
      stdout += chunk.toString();
      const link = /(http\S+\/#key=\S+)/.exec(stdout);
      if (link?.[1]) done(link[1]);
    };
    server.process.stdout!.on('data', scan);
    server.process.once('exit', (code) => fail(new Error(`order-notify exited with ${code} before printing a sign-in link`)));
  });
  project.provide('baseUrl', server.baseUrl);
  project.provide('signInLink', await signInLink);

  return async () => {
    await server.stop();
    server.remove();
  };
}

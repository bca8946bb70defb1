import { readFileSync } from 'node:fs';
import { cpus, freemem, loadavg, totalmem } from 'node:os';
import type { Bus } from '../bus/mod.ts';
import type { InspectActorId } from '../protocol/mod.ts';
import type { Inspector } from './inspect.ts';
import { ErrorCode, RuntimeError, Topics, errorMessage } from '../protocol/mod.ts';
import type { ProbeResult } from '../../sandbox/mod.ts';
import type { Supervisor } from '../supervisor/mod.ts';
import type { TaskManager } from '../tasks/mod.ts';
import type { Workspace } from '../workspace/mod.ts';
import type { Store } from '../store/mod.ts';
import { normaliseRequirement } from '../llm/mod.ts';
import type { LlmProvider } from '../llm/mod.ts';
import type { Hub } from './hub.ts';
import type { Llm } from './llm.ts';
import { json, readJson, readSubmission, router } from './http.ts';

export interface RouteDeps {
  version: string;
  startedAt: number;
  provider: LlmProvider;
  samples: Array<{ id: string; title: string; requirement: string }>;
  tasks: TaskManager;
  supervisor: Supervisor;
  workspace: Workspace;
  store: Store;
  hub: Hub;
  llm: Llm;
  inspector?: Inspector;
  bus?: Bus;
  /** The launch token and whether the server listens beyond loopback (runtime/server/guard.ts). */
  session?: { token: string; remote: boolean };
  /** The sandbox's known-good probe (sandbox/mod.ts): /api/health says degraded when it fails. */
  sandboxProbe?: () => Promise<ProbeResult>;
}

/** How old the last probe may be before /api/health starts another one (in the background). */
const PROBE_MAX_AGE_MS = 10_000;

/**
 * The last probe's result, refreshed in the background: /api/health never waits behind a sandbox
 * busy with a long run (a bomb running to its deadline), it reports what the last probe found.
 * @example const sandboxHealth = probeCache(() => sandbox.probe()); sandboxHealth.current();
 */
export function probeCache(probe: () => Promise<ProbeResult>, maxAgeMs = PROBE_MAX_AGE_MS, now = () => Date.now()) {
  let last: (ProbeResult & { at: number }) | undefined;
  let running: Promise<void> | undefined;
  const refresh = (): Promise<void> => {
    running ??= probe()
      .then((result) => void (last = { ...result, at: now() }))
      .catch((error: unknown) => void (last = { ok: false, driver: 'unknown', message: `the probe failed: ${errorMessage(error)}`, at: now() }))
      .finally(() => (running = undefined));
    return running;
  };
  return {
    refresh,
    /** The last result (undefined before the first probe ends); starts a new probe when it is old. */
    current(): (ProbeResult & { at: number }) | undefined {
      if (!last || now() - last.at > maxAgeMs) void refresh();
      return last;
    },
  };
}

/**
 * The dashboard page. On loopback it carries the launch token in a meta tag (only pages of this
 * origin can read it: the Host check stops rebinding, the browser stops other sites); in remote mode
 * it carries none and the user opens it with ?token=.
 */
function dashboardPage(session: RouteDeps['session']): Response {
  let page = readFileSync(DASHBOARD, 'utf8');
  if (session && !session.remote) page = page.replace('<meta charset="utf-8">', `<meta charset="utf-8">\n<meta name="orchestrator-token" content="${session.token}">`);
  return new Response(page, { headers: { 'content-type': 'text/html; charset=utf-8', 'content-security-policy': DASHBOARD_CSP, 'cache-control': 'no-store', 'referrer-policy': 'no-referrer' } });
}

/** GET /api/machine: this server process's CPU % since the previous call (or its start), memory and load. */
function machineStats() {
  let last = { at: performance.now(), cpu: process.cpuUsage() };
  return () => {
    const at = performance.now();
    const cpu = process.cpuUsage();
    const wallMs = Math.max(1, at - last.at);
    const usedMs = (cpu.user - last.cpu.user + cpu.system - last.cpu.system) / 1000;
    last = { at, cpu };
    const memory = process.memoryUsage();
    return {
      ts: Date.now(),
      cpuPercent: Math.round((usedMs / wallMs) * 1000) / 10,
      cpus: cpus().length,
      memory: { rss: memory.rss, heapUsed: memory.heapUsed, heapTotal: memory.heapTotal, external: memory.external },
      system: { loadavg: loadavg(), freemem: freemem(), totalmem: totalmem() },
      uptimeSec: Math.round(process.uptime()),
    };
  };
}

/**
 * POST /api/test/flood {perSecond, seconds}: publishes log entries on the bus at that rate (the
 * dashboard's 1,000 events/s responsiveness test). Served only with ORCHESTRATOR_TEST_ROUTES=1.
 */
function flood(bus: Bus, perSecond: number, seconds: number): { published: Promise<number> } {
  const tickMs = 10;
  const perTick = perSecond / (1000 / tickMs);
  const started = performance.now();
  let sent = 0;
  const published = new Promise<number>((resolve) => {
    const timer = setInterval(() => {
      const elapsed = performance.now() - started;
      const due = Math.min(perSecond * seconds, Math.floor((elapsed / 1000) * perSecond + perTick));
      for (; sent < due; sent++) void bus.publish(Topics.Logs, 'log.entry', { level: 'debug', source: 'flood', text: `flood event ${sent}` }, { from: 'supervisor:root' });
      if (elapsed >= seconds * 1000) {
        clearInterval(timer);
        resolve(sent);
      }
    }, tickMs);
  });
  return { published };
}

const DASHBOARD = new URL('../../ui/index.html', import.meta.url);
const UI_DIST = new URL('../../ui/dist/', import.meta.url);
/** The dashboard page's policy: its own scripts and styles, its own server (fetch and /ws), no plugins. */
const DASHBOARD_CSP = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'";
const UI_TYPES: Record<string, string> = {
  js: 'text/javascript; charset=utf-8',
  map: 'application/json; charset=utf-8',
  json: 'application/json; charset=utf-8',
  css: 'text/css; charset=utf-8',
  svg: 'image/svg+xml',
  png: 'image/png',
};

/** GET /ui/<file>: the built component library (ui/dist), nothing else of the checkout. */
function uiAsset(name: string): Response {
  const ext = /\.([a-z]+)$/.exec(name)?.[1] ?? '';
  if (!/^[\w.-]+$/.test(name) || name.startsWith('.') || !UI_TYPES[ext]) {
    throw new RuntimeError(ErrorCode.NotFound, `no UI asset "${name}": the library is /ui/orchestrator-ui.js`);
  }
  let body: Buffer;
  try {
    body = readFileSync(new URL(name, UI_DIST));
  } catch {
    throw new RuntimeError(ErrorCode.NotFound, `UI asset "${name}" is not built: run npm run build:ui`);
  }
  // Any page may load the library (a module script from another origin is fetched in CORS mode): it
  // is public code; the data it reads (/api/*, /ws) keeps its token and its list of origins.
  return new Response(new Uint8Array(body), {
    headers: {
      'content-type': UI_TYPES[ext],
      'cache-control': 'no-cache',
      'x-content-type-options': 'nosniff',
      'cross-origin-resource-policy': 'cross-origin',
      'access-control-allow-origin': '*',
    },
  });
}

/**
 * Demo mode answers only its sample requirements: anything else is refused before a task exists (422),
 * naming the samples and how to leave demo mode, instead of a task that fails at its first stage.
 */
function refuseInDemo(requirement: string, samples: RouteDeps['samples']): void {
  const wanted = normaliseRequirement(requirement);
  if (samples.some((sample) => normaliseRequirement(sample.requirement) === wanted)) return;
  throw new RuntimeError(
    ErrorCode.Invalid,
    `demo mode answers only its sample requirements, and this is not one: submit one of ${samples.map((s) => JSON.stringify(s.requirement)).join(', ')}. ` +
      'To run your own requirement, configure a model and restart: set ANTHROPIC_API_KEY, OPENAI_API_KEY or DEEPSEEK_API_KEY (in .env or the environment), ' +
      'or add a local OpenAI-compatible server (Ollama, llama.cpp, vLLM, LM Studio) under "providers" in orchestrator.config.json (README, "Models")',
    { details: { status: 422, fields: { requirement: 'not a demo sample' }, samples: samples.map((s) => s.requirement) } },
  );
}

function limitParam(url: URL, name: string, fallback: number, max: number): number {
  const raw = url.searchParams.get(name);
  if (raw === null) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new RuntimeError(ErrorCode.Invalid, `query parameter ${name} is ${JSON.stringify(raw)}: use an integer from 0 to ${max}`);
  }
  return value;
}

async function taskOr404(tasks: TaskManager, id: string) {
  const task = await tasks.get(id);
  if (!task) throw new RuntimeError(ErrorCode.NotFound, `task "${id}" does not exist: list tasks with GET /api/tasks`);
  return task;
}

/** The HTTP API as one web-standard fetch handler (runs unchanged on Node and Deno). */
export function createRoutes(deps: RouteDeps): (request: Request) => Promise<Response> {
  const { tasks, supervisor, workspace, store } = deps;
  const sandboxHealth = deps.sandboxProbe ? probeCache(deps.sandboxProbe) : undefined;
  void sandboxHealth?.refresh();
  const health = async () => {
    const agents = supervisor.agents();
    let storeOk = true;
    try {
      await store.getTask('health-probe');
    } catch {
      storeOk = false;
    }
    const failed = agents.filter((a) => a.status === 'failed').map((a) => a.name);
    const probe = sandboxHealth?.current();
    const sandboxOk = probe?.ok !== false;
    const ok = storeOk && failed.length === 0 && sandboxOk;
    return json(
      {
        status: ok ? 'ok' : 'degraded',
        version: deps.version,
        uptimeMs: Date.now() - deps.startedAt,
        demo: deps.provider.demo,
        provider: deps.provider.name,
        store: storeOk ? 'ok' : 'failing',
        sandbox: probe ? { status: probe.ok ? 'ok' : 'failing', driver: probe.driver, message: probe.message, checkedAt: probe.at } : { status: sandboxHealth ? 'probing' : 'unknown' },
        agents: { total: agents.length, failed },
        tasks: tasks.stats(),
        wsClients: deps.hub.clients(),
        providers: deps.llm.describeProviders(),
        routing: deps.llm.routing().source,
      },
      ok ? 200 : 503,
    );
  };
  return router([
    { method: 'GET', path: /^\/$/, handle: () => dashboardPage(deps.session) },
    // The dashboard asks again after a restart (a new token). Same rule as the page: readable by this
    // origin only; in remote mode the guard already demanded the old token to get here.
    { method: 'GET', path: /^\/api\/session$/, handle: () => json({ token: deps.session?.token ?? null, remote: deps.session?.remote ?? false }) },
    { method: 'GET', path: /^\/ui\/([^/]+)$/, handle: (_, m) => uiAsset(decodeURIComponent(m[1])) },
    { method: 'GET', path: /^\/(api\/)?health$/, handle: health },
    { method: 'GET', path: /^\/api\/demo$/, handle: () => json({ demo: deps.provider.demo, samples: deps.samples }) },
    {
      method: 'POST',
      path: /^\/api\/requirements$/,
      handle: async (request) => {
        const body = await readSubmission(request);
        if (deps.provider.demo) refuseInDemo(body.requirement, deps.samples);
        const task = await tasks.submit(body);
        return json({ taskId: task.id, task }, 202, { location: `/api/tasks/${task.id}` });
      },
    },
    {
      method: 'GET',
      path: /^\/api\/tasks$/,
      handle: async (request) => {
        const url = new URL(request.url);
        return json({ tasks: await tasks.list({ limit: limitParam(url, 'limit', 100, 1000), offset: limitParam(url, 'offset', 0, 1_000_000) }) });
      },
    },
    { method: 'GET', path: /^\/api\/tasks\/([^/]+)$/, handle: async (_, m) => json(await taskOr404(tasks, decodeURIComponent(m[1]))) },
    { method: 'POST', path: /^\/api\/tasks\/([^/]+)\/cancel$/, handle: async (_, m) => json(await tasks.cancel(decodeURIComponent(m[1]))) },
    { method: 'POST', path: /^\/api\/tasks\/([^/]+)\/retry$/, handle: async (_, m) => json(await tasks.retry(decodeURIComponent(m[1])), 202) },
    { method: 'GET', path: /^\/api\/agents$/, handle: () => json({ agents: supervisor.agents(), failures: supervisor.failures() }) },
    { method: 'GET', path: /^\/api\/actors$/, handle: async () => json(supervisor.tree(await tasks.subtree())) },
    { method: 'GET', path: /^\/api\/workspace\/files$/, handle: async () => json({ files: await workspace.listFiles() }) },
    {
      method: 'GET',
      path: /^\/api\/workspace\/files\/(.+)$/,
      handle: async (_, m) =>
        new Response(await workspace.readFile(decodeURIComponent(m[1])), {
          // Generated text is data, never a page of ours: no sniffing, no script.
          headers: { 'content-type': 'text/plain; charset=utf-8', 'x-content-type-options': 'nosniff', 'content-security-policy': "default-src 'none'; sandbox" },
        }),
    },
    { method: 'GET', path: /^\/api\/archive$/, handle: async () => json({ entries: await workspace.listArchive() }) },
    { method: 'GET', path: /^\/api\/cache\/stats$/, handle: async () => json(await deps.llm.cache.stats()) },
    {
      method: 'POST',
      path: /^\/api\/cache\/clear$/,
      handle: async () => {
        const { cleared, freedMemory } = await deps.llm.cache.clear();
        return json({ status: 'cleared', cleared, freedMemory });
      },
    },
    { method: 'GET', path: /^\/api\/usage$/, handle: () => json(deps.llm.usage.summary()) },
    {
      method: 'GET',
      path: /^\/api\/project\/stats$/,
      handle: async () =>
        json({
          version: deps.version,
          uptimeMs: Date.now() - deps.startedAt,
          tasks: tasks.stats(),
          usage: deps.llm.usage.summary().total,
          cache: await deps.llm.cache.stats(),
          deployments: deps.llm.retry.health(),
          routing: deps.llm.routing().source,
        }),
    },
    { method: 'GET', path: /^\/api\/machine$/, handle: (() => { const stats = machineStats(); return () => json(stats()); })() },
    {
      method: 'GET',
      path: /^\/api\/inspect\/([^/]+)$/,
      handle: async (_, m) => {
        if (!deps.inspector) throw new RuntimeError(ErrorCode.NotFound, 'the inspector is not running');
        const actor = decodeURIComponent(m[1]);
        if (!/^(supervisor|agent:[\w.-]{1,64}|task:[\w.-]{1,128})$/.test(actor)) throw new RuntimeError(ErrorCode.Invalid, `actor ${JSON.stringify(actor)} must be 'supervisor', 'agent:<name>' or 'task:<id>'`);
        return json(await deps.inspector.view(actor as InspectActorId));
      },
    },
    ...(process.env.ORCHESTRATOR_TEST_ROUTES === '1' && deps.bus
      ? [
          {
            method: 'POST',
            path: /^\/api\/test\/flood$/,
            handle: async (request: Request) => {
              const body = (await readJson(request)) as { perSecond?: number; seconds?: number };
              const perSecond = Math.min(10_000, Math.max(1, Number(body.perSecond) || 1000));
              const seconds = Math.min(30, Math.max(0.1, Number(body.seconds) || 3));
              void flood(deps.bus!, perSecond, seconds);
              return json({ status: 'flooding', perSecond, seconds }, 202);
            },
          },
        ]
      : []),
    ...deps.llm.proxy.routes,
  ]);
}

import { atom, onMount } from 'nanostores';
import type { ReadableAtom } from 'nanostores';
import type { AgentState, HubEvent, LlmUsageEvent, LogLevel, ServerFrame, TaskDetail, TaskView } from './frames.ts';

export const ConnectionStatus = {
  Connecting: 'connecting',
  Connected: 'connected',
  Reconnecting: 'reconnecting',
  Disconnected: 'disconnected',
} as const;
export type ConnectionStatus = (typeof ConnectionStatus)[keyof typeof ConnectionStatus];

/** One line of the console: a log line, or the streamed tokens of one agent for one task. */
export interface ConsoleLine {
  id: number;
  ts: number;
  level: LogLevel | 'token';
  source: string;
  taskId: string | null;
  text: string;
}

/** A stage a task was seen in, in order: the pipeline view's trail (fix-loop iterations included). */
export interface StageStep {
  stage: string;
  iteration: number;
  at: number;
}

/** A usage event as the client keeps it: when it came and for which task. */
export type UsagePoint = Pick<LlmUsageEvent, 'agent' | 'deployment' | 'inputTokens' | 'outputTokens' | 'costUsd' | 'ms' | 'cached'> & { ts: number; taskId: string | null };

export interface ClientOptions {
  /** The server's base URL ('' or undefined: the page's own origin). */
  server?: string;
  /** Console lines kept (oldest dropped). */
  maxLines?: number;
  /** Reconnect backoff: first delay, cap, and how many failed attempts before the state says "disconnected". */
  backoff?: { initialMs: number; maxMs: number; reconnectingAttempts: number };
  schedule?: (flush: () => void) => void;
  /** The server's launch token (default: `launchToken()`); WebSockets need it, see docs/security.md. */
  token?: string | null;
}

const TOKEN_KEY = 'orchestrator-token';

/**
 * The launch token the page was given: the `<meta name="orchestrator-token">` the server puts in the
 * dashboard page, else `?token=` in the page's address (remote mode; kept for the tab's session and
 * removed from the address bar), else what this tab kept earlier.
 * @example new WebSocket(`ws://127.0.0.1:8100/ws?token=${launchToken()}`)
 */
export function launchToken(): string | null {
  if (typeof document === 'undefined') return null;
  const meta = document.querySelector<HTMLMetaElement>(`meta[name="${TOKEN_KEY}"]`)?.content;
  if (meta) return meta;
  const params = new URLSearchParams(location.search);
  const fromUrl = params.get('token');
  if (fromUrl) {
    try {
      sessionStorage.setItem(TOKEN_KEY, fromUrl);
      params.delete('token');
      history.replaceState(history.state, '', location.pathname + (params.size ? `?${params}` : '') + location.hash);
    } catch {
      // Storage or history may be unavailable (sandboxed frames); the token still works for this load.
    }
    return fromUrl;
  }
  try {
    return sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

const PING_MS = 15_000;
const MAX_TRAIL = 60;
const MAX_USAGE = 2_000;

/** Per animation frame when the page is visible; a timer otherwise (rAF does not run in a hidden tab). */
function frameScheduler(flush: () => void): void {
  if (typeof requestAnimationFrame === 'function' && typeof document !== 'undefined' && document.visibilityState === 'visible') requestAnimationFrame(() => flush());
  else setTimeout(flush, 16);
}

/**
 * The dashboard's state, fed by the server's /ws stream: a snapshot, then updates with sequence numbers.
 * A gap in `seq` sends `{type:'resync'}` and ignores updates until the next snapshot; a closed socket
 * reconnects with exponential backoff (the server sends a fresh snapshot on connect). Frames are queued
 * and applied once per animation frame, so a burst of events costs one render. The socket is open only
 * while some store has a listener (nanostores `onMount`).
 * @example
 * const client = createClient({ server: 'http://127.0.0.1:8100' });
 * const off = client.$agents.listen((agents) => console.log(Object.keys(agents)));
 */
export function createClient(options: ClientOptions = {}) {
  const base = (options.server ?? '').replace(/\/+$/, '');
  const maxLines = options.maxLines ?? 2_000;
  const backoff = options.backoff ?? { initialMs: 250, maxMs: 5_000, reconnectingAttempts: 12 };
  const schedule = options.schedule ?? frameScheduler;
  let token = options.token === undefined ? launchToken() : options.token;
  let askedSession = false;

  const $status = atom<ConnectionStatus>(ConnectionStatus.Connecting);
  const $demo = atom(false);
  const $agents = atom<Record<string, AgentState>>({});
  const $tasks = atom<Record<string, TaskView>>({});
  const $trails = atom<Record<string, StageStep[]>>({});
  const $lines = atom<ConsoleLine[]>([]);
  const $usage = atom<UsagePoint[]>([]);
  /** The model each agent last used (from token and usage events). */
  const $models = atom<Record<string, string>>({});
  /** Frames applied, resyncs asked for, the last seq: for the curious and for tests. */
  const $stats = atom({ seq: 0, frames: 0, events: 0, resyncs: 0, reconnects: 0 });

  let socket: WebSocket | null = null;
  let seq = 0;
  let awaitingSnapshot = true;
  let inbox: ServerFrame[] = [];
  let scheduled = false;
  let attempts = 0;
  let retryTimer: ReturnType<typeof setTimeout> | null = null;
  let pingTimer: ReturnType<typeof setInterval> | null = null;
  let listeners = 0;
  let lineId = 0;

  function url(path: string): string {
    return base + path;
  }

  /** The ws address of `path` on the server, carrying the launch token. */
  function wsUrl(path = '/ws'): string {
    const u = new URL(path, base || location.href);
    u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
    if (token) u.searchParams.set('token', token);
    return u.href;
  }

  // After a server restart the token is new: a page served by the server (or a listed UI origin)
  // may ask for it again; other pages cannot read the answer.
  async function refreshToken(): Promise<void> {
    try {
      const response = await fetch(url('/api/session'), { headers: token ? { 'x-orchestrator-token': token } : {} });
      if (response.ok) token = ((await response.json()) as { token?: string }).token ?? token;
    } catch {
      // The server is still down: the next attempt tries again.
    }
  }

  function connect(): void {
    retryTimer = null;
    if (!listeners) return;
    // A page on a listed UI origin has no token in its markup: it asks the server first.
    if (!token && !askedSession) {
      askedSession = true;
      retryTimer = setTimeout(() => undefined, 0); // marks a connect in progress for acquire()
      void refreshToken().then(connect);
      return;
    }
    let ws: WebSocket;
    try {
      ws = new WebSocket(wsUrl());
    } catch {
      return retry();
    }
    socket = ws;
    awaitingSnapshot = true;
    let opened = false;
    ws.addEventListener('open', () => (opened = true));
    ws.onmessage = (event) => {
      try {
        inbox.push(JSON.parse(String(event.data)) as ServerFrame);
      } catch {
        return;
      }
      if (!scheduled) {
        scheduled = true;
        schedule(drain);
      }
    };
    ws.onclose = () => {
      if (socket !== ws) return;
      socket = null;
      if (pingTimer) clearInterval(pingTimer);
      pingTimer = null;
      retry(!opened);
    };
    ws.onopen = () => {
      pingTimer = setInterval(() => send({ type: 'ping' }), PING_MS);
    };
  }

  /** `refused`: the socket closed before it opened (server down, or a token from before a restart). */
  function retry(refused = false): void {
    if (!listeners) return void $status.set(ConnectionStatus.Disconnected);
    attempts++;
    $status.set(attempts > backoff.reconnectingAttempts ? ConnectionStatus.Disconnected : ConnectionStatus.Reconnecting);
    const delay = Math.min(backoff.maxMs, backoff.initialMs * 2 ** Math.min(attempts - 1, 10));
    retryTimer = setTimeout(() => (refused ? void refreshToken().then(connect) : connect()), delay * (0.75 + Math.random() * 0.5));
  }

  function send(frame: unknown): void {
    if (socket?.readyState === 1) socket.send(JSON.stringify(frame));
  }

  function drain(): void {
    scheduled = false;
    const frames = inbox;
    inbox = [];
    let agents: Record<string, AgentState> | null = null;
    let tasks: Record<string, TaskView> | null = null;
    let trails: Record<string, StageStep[]> | null = null;
    let models: Record<string, string> | null = null;
    const lines: ConsoleLine[] = [];
    const usage: UsagePoint[] = [];
    const stats = { ...$stats.get() };
    let connected = false;

    const trailFor = (task: TaskView) => {
      trails ??= { ...$trails.get() };
      const trail = trails[task.id] ?? [];
      const last = trail[trail.length - 1];
      if (last && last.stage === task.stage && last.iteration === task.iteration) return;
      trails[task.id] = [...trail, { stage: task.stage, iteration: task.iteration, at: task.updatedAt }].slice(-MAX_TRAIL);
    };
    const apply = (event: HubEvent) => {
      switch (event.kind) {
        case 'agent':
          agents ??= { ...$agents.get() };
          agents[event.agent.name] = event.agent;
          break;
        case 'task':
          tasks ??= { ...$tasks.get() };
          tasks[event.task.id] = event.task;
          trailFor(event.task);
          break;
        case 'log':
          lines.push({ id: ++lineId, ts: event.log.ts, level: event.log.level, source: event.log.source, taskId: event.taskId ?? null, text: event.log.text });
          break;
        case 'token': {
          models ??= { ...$models.get() };
          models[event.token.agent] = event.token.deployment;
          const prev = lines[lines.length - 1] ?? $lines.get()[$lines.get().length - 1];
          if (prev && prev.level === 'token' && prev.source === event.token.agent && prev.taskId === (event.taskId ?? null) && prev.text.length < 2_000) {
            const merged = { ...prev, text: prev.text + event.token.text };
            if (lines[lines.length - 1] === prev) lines[lines.length - 1] = merged;
            else lines.push(merged);
          } else {
            lines.push({ id: ++lineId, ts: Date.now(), level: 'token', source: event.token.agent, taskId: event.taskId ?? null, text: event.token.text });
          }
          break;
        }
        case 'usage':
          models ??= { ...$models.get() };
          models[event.usage.agent] = event.usage.deployment;
          usage.push({ ts: Date.now(), taskId: event.taskId ?? null, ...event.usage });
          break;
        default:
          break; // a newer server's event kind: ignored, not fatal
      }
    };

    for (const frame of frames) {
      stats.frames++;
      if (frame.type === 'snapshot') {
        agents = { ...frame.state.agents };
        tasks = { ...frame.state.tasks };
        for (const task of Object.values(tasks)) trailFor(task);
        $demo.set(frame.state.demo);
        seq = frame.seq;
        awaitingSnapshot = false;
        connected = true;
      } else if (frame.type === 'update') {
        if (awaitingSnapshot) continue;
        if (frame.seq !== seq + 1) {
          awaitingSnapshot = true;
          stats.resyncs++;
          send({ type: 'resync' });
          continue;
        }
        seq = frame.seq;
        stats.events += frame.events.length;
        for (const event of frame.events) apply(event);
      } else if (frame.type === 'error') {
        lines.push({ id: ++lineId, ts: Date.now(), level: 'error', source: 'server', taskId: null, text: frame.message });
      }
    }
    stats.seq = seq;
    if (agents) $agents.set(agents);
    if (tasks) $tasks.set(tasks);
    if (trails) $trails.set(trails);
    if (models) $models.set(models);
    if (lines.length) {
      const current = $lines.get();
      // A merged token line replaces the line it continues.
      const firstId = lines[0].id;
      const kept = current[current.length - 1]?.id === firstId ? current.slice(0, -1) : current;
      $lines.set(kept.concat(lines).slice(-maxLines));
    }
    if (usage.length) $usage.set($usage.get().concat(usage).slice(-MAX_USAGE));
    if (connected && attempts > 0) stats.reconnects++;
    $stats.set(stats);
    if (connected) {
      attempts = 0;
      $status.set(ConnectionStatus.Connected);
    }
  }

  function acquire(): () => void {
    listeners++;
    if (listeners === 1 && !socket && !retryTimer) {
      $status.set(ConnectionStatus.Connecting);
      connect();
    }
    return () => {
      listeners--;
      if (listeners) return;
      if (retryTimer) clearTimeout(retryTimer);
      retryTimer = null;
      const open = socket;
      socket = null;
      open?.close(1000, 'no listeners');
      $status.set(ConnectionStatus.Disconnected);
    };
  }
  const stores: ReadableAtom<unknown>[] = [$status, $demo, $agents, $tasks, $trails, $lines, $usage, $models, $stats];
  for (const store of stores) onMount(store, acquire);

  async function request<T>(path: string, init?: { method?: string; body?: unknown }): Promise<T> {
    const response = await fetch(url(path), {
      method: init?.method ?? (init?.body === undefined ? 'GET' : 'POST'),
      headers: { ...(init?.body === undefined ? {} : { 'content-type': 'application/json' }), ...(token ? { 'x-orchestrator-token': token } : {}) },
      body: init?.body === undefined ? undefined : JSON.stringify(init.body),
    });
    const body = await response.json().catch(() => null);
    if (!response.ok) {
      // The server names the fields it refused (e.g. { requirement: 'not a demo sample' }): a form marks them.
      const error = new Error(body?.error?.message ?? `${response.status} ${response.statusText}`) as Error & { fields?: Record<string, string>; status?: number };
      error.fields = body?.error?.fields;
      error.status = response.status;
      throw error;
    }
    return body as T;
  }

  return {
    server: base,
    url,
    wsUrl,
    /** Asks the server for its current launch token (after a restart, or on a listed UI origin). */
    refreshToken,
    hasToken: () => !!token,
    $status: $status as ReadableAtom<ConnectionStatus>,
    $demo: $demo as ReadableAtom<boolean>,
    $agents: $agents as ReadableAtom<Record<string, AgentState>>,
    $tasks: $tasks as ReadableAtom<Record<string, TaskView>>,
    $trails: $trails as ReadableAtom<Record<string, StageStep[]>>,
    $lines: $lines as ReadableAtom<ConsoleLine[]>,
    $usage: $usage as ReadableAtom<UsagePoint[]>,
    $models: $models as ReadableAtom<Record<string, string>>,
    $stats: $stats as ReadableAtom<{ seq: number; frames: number; events: number; resyncs: number; reconnects: number }>,
    request,
    submit: (requirement: string, priority: number) => request<{ taskId: string; task: TaskView }>('/api/requirements', { body: { requirement, priority } }),
    detail: (id: string) => request<TaskDetail>(`/api/tasks/${encodeURIComponent(id)}`),
    cancel: (id: string) => request<TaskView>(`/api/tasks/${encodeURIComponent(id)}/cancel`, { method: 'POST' }),
    retry: (id: string) => request<TaskView>(`/api/tasks/${encodeURIComponent(id)}/retry`, { method: 'POST' }),
    /** Drops the socket as a network failure would (tests, "reconnect now"). */
    reconnect(): void {
      socket?.close(4000, 'reconnect');
    },
  };
}

export type Client = ReturnType<typeof createClient>;

const clients = new Map<string, Client>();

/** One client per server URL, shared by every component on the page that names that server. */
export function getClient(server?: string | null): Client {
  const key = (server ?? '').replace(/\/+$/, '');
  let client = clients.get(key);
  if (!client) clients.set(key, (client = createClient({ server: key })));
  return client;
}


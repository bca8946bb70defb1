import type { AnyActorRef, AnyStateMachine, InspectionEvent } from 'xstate';
import { ErrorCode, InspectClientFrame, RuntimeError, errorMessage, parse } from '../protocol/mod.ts';
import type { ActorNode, InspectActorId, InspectEdge, InspectHistoryEntry, InspectMachine, InspectServerFrame, InspectStateNode, TaskView } from '../protocol/mod.ts';
import type { WsHandlers, WsPeer } from '../adapters/mod.ts';
import type { Store } from '../store/mod.ts';
import type { Supervisor } from '../supervisor/mod.ts';
import { SUPERVISOR_MACHINE_VERSION } from '../supervisor/mod.ts';
import { PIPELINE_MACHINE_VERSION, createPipelineMachine } from '../tasks/mod.ts';
import type { StageCalls, TaskManager } from '../tasks/mod.ts';

const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;
const MAX_HISTORY = 5_000;
const MAX_STRING = 2_000;
const MAX_ITEMS = 100;
const MAX_DEPTH = 6;

// Internal shape of an XState v5 state node: what the definition is read from.
interface NodeLike {
  id: string;
  key: string;
  type: InspectStateNode['type'];
  parent?: NodeLike;
  states: Record<string, NodeLike>;
  initial?: { target: NodeLike[] };
  invoke: Array<{ src: unknown }>;
  transitions: Map<string, TransitionLike[]>;
  always?: TransitionLike[];
  after: Array<TransitionLike & { delay?: unknown }>;
}
interface TransitionLike {
  target?: NodeLike[] | readonly NodeLike[];
  guard?: unknown;
  eventType: string;
  delay?: unknown;
}

function guardName(guard: unknown): string | undefined {
  if (!guard) return undefined;
  if (typeof guard === 'string') return guard;
  if (typeof guard === 'object' && typeof (guard as { type?: unknown }).type === 'string') return (guard as { type: string }).type;
  return 'inline';
}

function edgeOf(source: NodeLike, t: TransitionLike, srcOf: Map<string, string>): InspectEdge {
  let kind: InspectEdge['kind'] = 'on';
  let event = t.eventType;
  const done = /^xstate\.(done|error)\.actor\.(.+)$/.exec(event);
  if (done) {
    kind = done[1] as 'done' | 'error';
    event = `${kind}: ${srcOf.get(done[2]) ?? done[2]}`;
  } else if (/^xstate\.after\./.test(event)) {
    kind = 'after';
    event = `after: ${/^xstate\.after\.([^.]+)/.exec(event)?.[1] ?? '?'}`;
  }
  const edge: InspectEdge = { source: source.id, target: (t.target ?? []).map((n) => n.id), event, kind };
  const guard = guardName(t.guard);
  if (guard) edge.guard = guard;
  return edge;
}

/**
 * A machine definition as JSON: every state node (flattened, with its parent), and every transition —
 * `on` events, invoke onDone/onError (named by the invoked `src`), `always` and `after` — with targets
 * and guard names. Read from the XState machine object, so it cannot drift from what runs.
 * @example const def = machineDefinition(createPipelineMachine(calls)); def.nodes.map((n) => n.key);
 */
export function machineDefinition(machine: AnyStateMachine, version?: string): InspectMachine {
  const nodes: InspectStateNode[] = [];
  const edges: InspectEdge[] = [];
  const walk = (node: NodeLike): void => {
    const srcOf = new Map<string, string>();
    (node.invoke ?? []).forEach((inv, i) => srcOf.set((inv as { id?: string }).id ?? String(i), typeof inv.src === 'string' ? inv.src : 'inline'));
    const out: InspectStateNode = { id: node.id, key: node.key, parent: node.parent?.id ?? null, type: node.type };
    const initial = node.initial?.target?.[0];
    if (initial) out.initial = initial.id;
    if (srcOf.size) out.invoke = [...srcOf.values()];
    nodes.push(out);
    for (const list of node.transitions?.values() ?? []) for (const t of list) if (!/^xstate\.after\./.test(t.eventType)) edges.push(edgeOf(node, t, srcOf));
    for (const t of node.always ?? []) edges.push({ ...edgeOf(node, t, srcOf), event: 'always', kind: 'always' });
    for (const t of node.after ?? []) edges.push({ ...edgeOf(node, t, srcOf), event: `after: ${String(t.delay)}`, kind: 'after' });
    for (const child of Object.values(node.states ?? {})) walk(child);
  };
  walk((machine as unknown as { root: NodeLike }).root);
  const definition: InspectMachine = { id: machine.id, root: (machine as unknown as { root: NodeLike }).root.id, nodes, edges };
  if (version) definition.version = version;
  return definition;
}

/**
 * The chart of any actor logic: a state machine's own definition; the chart a written-out logic carries
 * (defineAgent's, drawn from the table its transition follows); else one node saying what it is.
 */
export function logicDefinition(logic: unknown): InspectMachine {
  const l = logic as { root?: unknown; chart?: InspectMachine; id?: string } | null;
  if (l?.root) return machineDefinition(l as unknown as AnyStateMachine);
  if (l?.chart) return l.chart;
  const id = 'logic';
  return { id, root: id, nodes: [{ id, key: 'actor logic without a chart', parent: null, type: 'atomic' }], edges: [] };
}

/**
 * A JSON-safe copy for the wire: functions dropped, actor refs as `[actor <id>]`, strings over 2,000
 * characters and arrays over 100 items cut (saying how much), cycles and depth over 6 marked.
 * @example jsonSafe({ ref: actor, big: 'x'.repeat(5000) }); // { ref: '[actor …]', big: 'xxx… (5000 chars)' }
 */
export function jsonSafe(value: unknown, depth = 0, seen: WeakSet<object> = new WeakSet()): unknown {
  if (value === null || typeof value === 'boolean') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : String(value);
  if (typeof value === 'string') return value.length > MAX_STRING ? `${value.slice(0, MAX_STRING)}… (${value.length} chars)` : value;
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value !== 'object') return undefined; // functions, symbols, undefined
  if (seen.has(value)) return '[circular]';
  if (depth >= MAX_DEPTH) return '[…]';
  if (typeof (value as { sessionId?: unknown }).sessionId === 'string' && typeof (value as { send?: unknown }).send === 'function') return `[actor ${(value as { id: string }).id}]`;
  if (value instanceof Error) return { name: value.name, message: value.message };
  seen.add(value);
  if (Array.isArray(value)) {
    const items = value.slice(0, MAX_ITEMS).map((v) => jsonSafe(v, depth + 1, seen) ?? null);
    if (value.length > MAX_ITEMS) items.push(`… ${value.length - MAX_ITEMS} more`);
    return items;
  }
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    const safe = jsonSafe(v, depth + 1, seen);
    if (safe !== undefined) out[key] = safe;
  }
  return out;
}

export interface InspectorDeps {
  supervisor: Supervisor;
  tasks: TaskManager;
  store: Store;
}

/** What one actor looks like now: GET /api/inspect/:actor, and the first frames of a ws subscription. */
export interface InspectView {
  actor: InspectActorId;
  definition: InspectMachine;
  state: Extract<InspectServerFrame, { type: 'state' }>;
  history?: InspectHistoryEntry[];
}

const never = (): Promise<never> => Promise.reject(new Error('definition only'));
const STUB_CALLS: StageCalls = { enhance: never, analyze: never, reason: never, implement: never, validate: never, review: never, integrate: never, hasReviewer: () => false };

/**
 * The /ws/inspect channel: a client subscribes to one actor at a time and gets its machine definition,
 * its state (value, JSON-safe context, the event that led there) on every change, and for a task the
 * persisted event log (the store's append-only events) to scrub through.
 */
export function createInspector(deps: InspectorDeps) {
  const { supervisor, tasks, store } = deps;
  const pipeline = machineDefinition(createPipelineMachine(STUB_CALLS) as unknown as AnyStateMachine, PIPELINE_MACHINE_VERSION);
  const supervisorDef = machineDefinition(supervisor.actor.logic as unknown as AnyStateMachine, SUPERVISOR_MACHINE_VERSION);
  const subscriptions = new Map<WsPeer, InspectActorId>();
  const agentDefs = new Map<string, InspectMachine>();

  function send(peer: WsPeer, frame: InspectServerFrame): void {
    if (peer.buffered > MAX_BUFFERED_BYTES) return void peer.close(1013, 'client too slow: reconnect and subscribe again');
    try {
      peer.send(JSON.stringify(frame));
    } catch {
      subscriptions.delete(peer);
    }
  }

  async function actors(): Promise<InspectActorId[]> {
    // `agent:<name>` is a pool, shown through its first instance; `agent:<name>#<n>` is one instance.
    const agents = supervisor.agents().flatMap((a) => [`agent:${a.name}` as const, ...a.instances.slice(1).map((i) => `agent:${i.id}` as const)]);
    return ['supervisor', ...agents, ...(await tasks.list({ limit: 100 })).map((t) => `task:${t.id}` as const)];
  }

  /** The 'actors' frame: every actor to inspect, and the supervision tree they make. */
  async function actorsFrame(): Promise<InspectServerFrame> {
    const [list, tree] = await Promise.all([actors(), tasks.subtree().then((subtree): ActorNode => supervisor.tree(subtree))]);
    return { type: 'actors', actors: list, tree };
  }

  /** The instance id an inspector actor name stands for: `name` is the pool's first instance. */
  const instanceOf = (name: string) => (name.includes('#') ? name : `${name}#1`);

  function agentRef(name: string): AnyActorRef | undefined {
    return (supervisor.actor.getSnapshot().context.refs as Record<string, AnyActorRef>)[instanceOf(name)];
  }

  /** The pool an inspector actor name belongs to. */
  const poolOf = (name: string) => supervisor.agents().find((a) => a.name === name.replace(/#\d+$/, ''));

  function supervisorContext(): unknown {
    const c = supervisor.actor.getSnapshot().context;
    const pools = Object.fromEntries(Object.entries(c.pools).map(([n, p]) => [n, { version: p.loaded.plugin.version, role: p.loaded.plugin.role, size: p.size }]));
    const agents = Object.fromEntries(supervisor.agents().map((agent) => [agent.name, agent]));
    return jsonSafe({ agents, instances: c.instances, crashes: c.crashes, failures: c.failures, policy: c.policy, refs: c.refs, pools });
  }

  /** The task's log (rows written behind, such as the messages sent so far, included). */
  async function history(taskId: string): Promise<InspectHistoryEntry[]> {
    return (await store.events(taskId, { limit: MAX_HISTORY })).map((e) => ({ seq: e.seq, at: e.ts, type: e.type, data: jsonSafe(e.data) }));
  }

  async function taskState(actor: InspectActorId, task: TaskView, entries?: InspectHistoryEntry[]): Promise<Extract<InspectServerFrame, { type: 'state' }>> {
    const persisted = (await store.loadSnapshot(task.id))?.snapshot as { value?: unknown; context?: unknown } | undefined;
    const last = entries?.[entries.length - 1];
    const frame: Extract<InspectServerFrame, { type: 'state' }> = { type: 'state', actor, value: persisted?.value ?? task.stage, context: jsonSafe(persisted?.context ?? null), at: task.updatedAt };
    if (last) frame.event = { type: last.type, payload: last.data };
    return frame;
  }

  /** The current view of an actor; E_NOT_FOUND for an unknown one. */
  async function view(actor: InspectActorId): Promise<InspectView> {
    if (actor === 'supervisor') {
      const snap = supervisor.actor.getSnapshot();
      return { actor, definition: supervisorDef, state: { type: 'state', actor, value: snap.value, context: supervisorContext(), at: Date.now() } };
    }
    const [kind, ...rest] = actor.split(':');
    const name = rest.join(':');
    if (kind === 'agent') {
      const ref = agentRef(name);
      if (!ref) throw new RuntimeError(ErrorCode.NotFound, `no agent ${name}: GET /api/agents lists them`);
      let definition = agentDefs.get(name);
      if (!definition) {
        definition = logicDefinition((ref as unknown as { logic: unknown }).logic);
        agentDefs.set(name, definition);
      }
      const snap = ref.getSnapshot() as { value?: unknown; context?: { current?: unknown } };
      return { actor, definition, state: { type: 'state', actor, value: snap.value ?? null, context: jsonSafe({ current: snap.context?.current ?? null, agent: poolOf(name) }), at: Date.now() } };
    }
    const task = await tasks.view(name);
    if (!task) throw new RuntimeError(ErrorCode.NotFound, `no task ${name}: GET /api/tasks lists them`);
    const entries = await history(name);
    return { actor, definition: pipeline, state: await taskState(actor, task, entries), history: entries };
  }

  async function subscribe(peer: WsPeer, actor: InspectActorId): Promise<void> {
    const v = await view(actor);
    subscriptions.set(peer, actor);
    send(peer, { type: 'machine', actor, definition: v.definition });
    if (v.history) send(peer, { type: 'history', actor, entries: v.history });
    send(peer, v.state);
  }

  // Supervisor and agents live in one actor system: its inspection stream carries every event and snapshot.
  const inspection = supervisor.actor.system.inspect((event: InspectionEvent) => {
    if (event.type !== '@xstate.snapshot' || !subscriptions.size) return;
    const ref = event.actorRef as AnyActorRef;
    // Instances are children `name#n@generation`; instance 1 also stands for its pool (`agent:name`).
    const child = /^(.+)#(\d+)@\d+$/.exec(ref.id);
    const actor: InspectActorId | null = ref === supervisor.actor ? 'supervisor' : child ? `agent:${child[2] === '1' ? child[1] : `${child[1]}#${child[2]}`}` : null;
    if (!actor) return;
    let frame: InspectServerFrame | null = null;
    for (const [peer, wanted] of subscriptions) {
      if (wanted !== actor) continue;
      if (!frame) {
        const snap = event.snapshot as { value?: unknown; context?: { current?: unknown } };
        const context = actor === 'supervisor' ? supervisorContext() : jsonSafe({ current: snap.context?.current ?? null, agent: poolOf(actor.slice('agent:'.length)) });
        const { type, ...payload } = event.event;
        frame = { type: 'state', actor, value: snap.value ?? null, context, at: Date.now(), event: { type, payload: jsonSafe(payload) } };
      }
      send(peer, frame);
    }
  });

  // A task's frames go out in the order its changes happened: each waits for the one before.
  const frames = new Map<InspectActorId, Promise<void>>();
  const offTasks = tasks.onChange((task) => {
    const actor: InspectActorId = `task:${task.id}`;
    if (![...subscriptions.values()].includes(actor)) return;
    const next = (frames.get(actor) ?? Promise.resolve())
      .then(async () => {
        const entries = await history(task.id);
        const state = await taskState(actor, task, entries);
        for (const [peer, wanted] of subscriptions) {
          if (wanted !== actor) continue;
          send(peer, { type: 'history', actor, entries });
          send(peer, state);
        }
      })
      .catch(() => {
        // The store could not answer: the next change (or a new subscribe) sends the task afresh.
      });
    frames.set(actor, next);
    void next.then(() => {
      if (frames.get(actor) === next) frames.delete(actor);
    });
  });

  const ws: WsHandlers = {
    open(peer) {
      void actorsFrame().then(
        (frame) => send(peer, frame),
        (error) => send(peer, { type: 'error', message: `the actor list could not be read: ${errorMessage(error)}; send {"type":"actors"} to ask again` }),
      );
    },
    async message(peer, text) {
      try {
        let raw: unknown;
        try {
          raw = JSON.parse(text);
        } catch {
          throw new RuntimeError(ErrorCode.Invalid, 'ws frame is not JSON');
        }
        const frame = parse(InspectClientFrame, raw, 'inspect frame');
        if (frame.type === 'subscribe') await subscribe(peer, frame.actor as InspectActorId);
        else if (frame.type === 'unsubscribe') subscriptions.delete(peer);
        else send(peer, await actorsFrame());
      } catch (error) {
        send(peer, { type: 'error', message: `${errorMessage(error)}; send {"type":"subscribe","actor":"supervisor" | "agent:<name>" | "task:<id>"}` });
      }
    },
    close(peer) {
      subscriptions.delete(peer);
    },
  };

  return {
    ws,
    view,
    actors,
    clients: () => subscriptions.size,
    close() {
      inspection.unsubscribe();
      offTasks();
      for (const peer of subscriptions.keys()) peer.close(1001, 'server stopping');
      subscriptions.clear();
    },
  };
}

export type Inspector = ReturnType<typeof createInspector>;

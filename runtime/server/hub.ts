import { ClientFrame, errorMessage, parse } from '../protocol/mod.ts';
import type { HubEvent, HubState, ServerFrame } from '../protocol/mod.ts';
import type { WsHandlers, WsPeer } from '../adapters/mod.ts';

export type { HubEvent, HubLogLine, HubState, ServerFrame } from '../protocol/mod.ts';

const FLUSH_MS = 16;
const MAX_EVENTS_PER_FRAME = 500;
const MAX_BUFFERED_BYTES = 8 * 1024 * 1024;
const MAX_TASKS = 200;

/**
 * The /ws channel. A client gets a full snapshot on connect, then update frames batched at most every
 * 16 ms (~60/s). Batching never drops a change: each frame lists every change since the last one, and
 * `seq` grows by one per frame so a client that sees a gap asks for `{type:'resync'}`. A flood of more
 * than 500 changes in one frame is sent as the snapshot it led to instead (that frame's console lines
 * and tokens are skipped; the state is not). Each frame is serialised once for all clients.
 */
export function createHub(initial: HubState) {
  const state: HubState = { demo: initial.demo, agents: { ...initial.agents }, tasks: { ...initial.tasks } };
  const peers = new Set<WsPeer>();
  let seq = 0;
  let pending: HubEvent[] = [];
  let timer: ReturnType<typeof setTimeout> | null = null;

  /** `frame` may come already serialised: a broadcast encodes once for every peer. */
  function sendTo(peer: WsPeer, frame: ServerFrame | string): void {
    if (peer.buffered > MAX_BUFFERED_BYTES) return void peer.close(1013, 'client too slow: reconnect to resync');
    try {
      peer.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
    } catch {
      peers.delete(peer);
    }
  }

  function snapshotFrame(): ServerFrame {
    return { type: 'snapshot', seq, state };
  }

  function flush(): void {
    timer = null;
    if (!pending.length) return;
    const events = pending;
    pending = [];
    seq++;
    // A flood larger than a frame should carry is replaced by the state it led to.
    const frame: ServerFrame = events.length > MAX_EVENTS_PER_FRAME ? snapshotFrame() : { type: 'update', seq, events };
    if (!peers.size) return;
    const text = JSON.stringify(frame);
    for (const peer of peers) sendTo(peer, text);
  }

  /**
   * The snapshot holds MAX_TASKS tasks at most, yet never leaves out a running one (their number is
   * bounded by --workers): a dashboard that connects mid-run must see every task in flight, not only the last
   * ones submitted. A changed task moves to the end; the least recently changed task that is not
   * running goes first.
   */
  function keep(task: HubState['tasks'][string]): void {
    delete state.tasks[task.id];
    state.tasks[task.id] = task;
    let excess = Object.keys(state.tasks).length - MAX_TASKS;
    if (excess <= 0) return;
    for (const id in state.tasks) {
      if (state.tasks[id].status === 'running') continue;
      delete state.tasks[id];
      if (--excess <= 0) return;
    }
  }

  function push(event: HubEvent): void {
    if (event.kind === 'agent') state.agents[event.agent.name] = event.agent;
    else if (event.kind === 'task') keep(event.task);
    pending.push(event);
    timer ??= setTimeout(flush, FLUSH_MS);
  }

  const ws: WsHandlers = {
    open(peer) {
      peers.add(peer);
      sendTo(peer, snapshotFrame());
    },
    message(peer, text) {
      try {
        const frame = parse(ClientFrame, JSON.parse(text), 'ws frame');
        if (frame.type === 'resync') sendTo(peer, snapshotFrame());
        else sendTo(peer, { type: 'pong', id: frame.id });
      } catch (error) {
        sendTo(peer, { type: 'error', message: `${errorMessage(error)}; send {"type":"resync"} or {"type":"ping"}` });
      }
    },
    close(peer) {
      peers.delete(peer);
    },
  };

  return {
    ws,
    push,
    state: () => state,
    clients: () => peers.size,
    close() {
      if (timer) clearTimeout(timer);
      flush();
      for (const peer of peers) peer.close(1001, 'server stopping');
      peers.clear();
    },
  };
}

export type Hub = ReturnType<typeof createHub>;

// Runs in the page: samples what the dashboard shows on every animation frame, so a test can assert
// what a person watching would have seen (an agent card going "working" and back, each stage of the
// pipeline, console lines arriving while the task still runs) without reloading or slowing the page.

export interface Seen {
  agents: Record<string, { statuses: string[]; done: number[] }>;
  stages: Record<string, string[]>;
  /** Per task: the console's sources (agents) seen while the pipeline still showed the task running. */
  consoleWhileRunning: Record<string, string[]>;
  frames: number;
}

export function installRecorder(): void {
  const w = window as unknown as { __seen: Seen; __recording: boolean };
  if (w.__recording) return;
  w.__recording = true;
  w.__seen = { agents: {}, stages: {}, consoleWhileRunning: {}, frames: 0 };
  const deepAll = (root: ParentNode, selector: string, out: Element[] = []): Element[] => {
    for (const el of Array.from(root.querySelectorAll('*'))) {
      if (el.matches(selector)) out.push(el);
      if (el.shadowRoot) deepAll(el.shadowRoot, selector, out);
    }
    return out;
  };
  const inside = (host: string, selector: string): HTMLElement[] =>
    deepAll(document, host).flatMap((el) => Array.from(el.shadowRoot?.querySelectorAll<HTMLElement>(selector) ?? []));
  const push = (list: Array<string | number>, value: string | number) => {
    if (list[list.length - 1] !== value) list.push(value);
  };
  const sample = () => {
    const seen = w.__seen;
    seen.frames++;
    for (const card of deepAll(document, 'agent-card')) {
      const name = card.getAttribute('name') ?? '';
      const entry = (seen.agents[name] ??= { statuses: [], done: [] });
      push(entry.statuses, card.getAttribute('status') ?? '');
      push(entry.done, Number(card.getAttribute('done')));
    }
    const running = new Set<string>();
    for (const row of inside('pipeline-view', 'li.task')) {
      const id = (row as HTMLElement).dataset.task ?? '';
      push((seen.stages[id] ??= []), (row as HTMLElement).dataset.stage ?? '');
      if ((row as HTMLElement).dataset.status === 'running') running.add(id);
    }
    if (running.size) {
      for (const line of inside('agent-console', '.line')) {
        const task = (line as HTMLElement).dataset.task ?? '';
        if (!running.has(task)) continue;
        const sources = (seen.consoleWhileRunning[task] ??= []);
        const source = (line as HTMLElement).dataset.source ?? '';
        if (!sources.includes(source)) sources.push(source);
      }
    }
    requestAnimationFrame(sample);
  };
  requestAnimationFrame(sample);
}

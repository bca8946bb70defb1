import { LitElement, css, html, svg } from 'lit';
import { ClientController } from '../controller.ts';
import { theme } from '../theme.ts';

/** The policy inside every preview frame: no script, no network; inline styles and data: images only. */
export const PREVIEW_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:";

/** The srcdoc of a preview: the generated file as a document of its own under PREVIEW_CSP. */
export function previewDocument(path: string, content: string): string {
  const meta = `<meta http-equiv="Content-Security-Policy" content="${PREVIEW_CSP}">`;
  if (/\.svg$/i.test(path)) return `<!doctype html><html><head>${meta}<style>body{margin:0}svg{max-width:100%;height:auto}</style></head><body>${content}</body></html>`;
  // An HTML file: the policy goes first, before anything of the file's own.
  return `<!doctype html><html><head>${meta}</head><body>${content}</body></html>`;
}

/**
 * Generated .svg / .html files, each in an `<iframe sandbox="">` (no scripts, an opaque origin) whose
 * srcdoc carries a restrictive CSP: the output is never inserted into the page's own DOM.
 */
export class OutputPreview extends LitElement {
  static override properties = { files: { attribute: false } };
  static override styles = [theme, css`:host { display: block; } iframe { width: 100%; height: 22rem; border: 1px solid var(--_border); border-radius: 0.3rem; background: #fff; }`];
  declare files: Array<{ path: string; content: string }>;

  constructor() {
    super();
    this.files = [];
  }

  override render() {
    const shown = this.files.filter((f) => /\.(svg|html?)$/i.test(f.path));
    if (!shown.length) return html``;
    return html`<h3>Preview</h3>${shown.map((f) => html`<figure data-path=${f.path}><figcaption class="muted">${f.path}</figcaption><iframe sandbox="" referrerpolicy="no-referrer" title="preview of ${f.path}" .srcdoc=${previewDocument(f.path, f.content)}></iframe></figure>`)}`;
  }
}

/** The model cache: hit rate, entries and bytes, and a Clear button that asks for confirmation. */
export class CachePanel extends LitElement {
  static override properties = { server: { type: String }, stats: { state: true }, confirming: { state: true }, message: { state: true } };
  static override styles = [theme, css`:host { display: block; } dl { display: grid; grid-template-columns: auto 1fr; gap: 0.2rem 0.8rem; margin: 0 0 0.5rem; } dd { margin: 0; font-variant-numeric: tabular-nums; }`];
  declare server: string | null;
  declare stats: { hits: number; misses: number; hitRate: number; size: number; maxSize: number; bytes: number } | null;
  declare confirming: boolean;
  declare message: string | null;
  readonly stores = new ClientController(this, (c) => [c.$usage]);
  private timer: ReturnType<typeof setInterval> | null = null;

  constructor() {
    super();
    this.server = null;
    this.stats = null;
    this.confirming = false;
    this.message = null;
  }

  override connectedCallback(): void {
    super.connectedCallback();
    void this.load();
    this.timer = setInterval(() => void this.load(), 5_000);
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    if (this.timer) clearInterval(this.timer);
  }

  async load(): Promise<void> {
    try {
      this.stats = await this.stores.client.request('/api/cache/stats');
    } catch (error) {
      this.message = (error as Error).message;
    }
  }

  private async clear(): Promise<void> {
    if (!this.confirming) return void (this.confirming = true);
    this.confirming = false;
    try {
      const r = await this.stores.client.request<{ cleared: number }>('/api/cache/clear', { method: 'POST' });
      this.message = `cleared ${r.cleared} entr${r.cleared === 1 ? 'y' : 'ies'}`;
      await this.load();
    } catch (error) {
      this.message = (error as Error).message;
    }
  }

  override render() {
    const s = this.stats;
    return html`
      ${s
        ? html`<dl><dt>hit rate</dt><dd class="hit-rate">${(s.hitRate * 100).toFixed(1)} %</dd><dt>hits / misses</dt><dd>${s.hits} / ${s.misses}</dd><dt>entries</dt><dd class="size">${s.size} of ${s.maxSize}</dd><dt>memory</dt><dd>${(s.bytes / 1024).toFixed(1)} kB</dd></dl>`
        : html`<p class="muted">loading…</p>`}
      <button class="clear" data-confirming=${String(this.confirming)} @click=${this.clear} @blur=${() => (this.confirming = false)}>${this.confirming ? 'Really clear the cache?' : 'Clear cache'}</button>
      ${this.message ? html`<span role="status" class="muted">${this.message}</span>` : ''}
    `;
  }
}

/** A small hand-drawn SVG line chart (no chart library: a few dozen lines beat 45 kB of uPlot here). */
function lineChart(points: Array<[number, number]>, label: string, unit: string) {
  const w = 300;
  const h = 70;
  if (points.length < 1) return html`<p class="muted">${label}: no data yet</p>`;
  const xs = points.map((p) => p[0]);
  const ys = points.map((p) => p[1]);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  const top = Math.max(...ys, 1e-9);
  const px = (x: number) => (x1 === x0 ? w : ((x - x0) / (x1 - x0)) * w);
  const py = (y: number) => h - (y / top) * (h - 4);
  const d = points.map(([x, y], i) => `${i ? 'L' : 'M'}${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(' ');
  const last = ys[ys.length - 1];
  return html`<figure class="chart" data-series=${label}><figcaption>${label}: <strong>${last.toLocaleString('en-US', { maximumFractionDigits: 4 })}</strong> ${unit} <span class="muted">(max ${top.toLocaleString('en-US', { maximumFractionDigits: 4 })})</span></figcaption>
    <svg viewBox="0 0 ${w} ${h}" preserveAspectRatio="none" role="img" aria-label="${label} over time">${svg`<path d=${d} fill="none" stroke="currentColor" stroke-width="1.5" vector-effect="non-scaling-stroke"></path>`}</svg></figure>`;
}

/** Tokens, cost and latency of model calls over time: GET /api/usage (per minute), then live `usage` events. */
export class UsageChart extends LitElement {
  static override properties = { server: { type: String }, series: { state: true } };
  static override styles = [theme, css`:host { display: block; color: var(--_accent); } figure { margin: 0 0 0.5rem; } figcaption { color: var(--_fg); font-size: 0.85rem; } svg { width: 100%; height: 4.5rem; background: var(--_bg); border: 1px solid var(--_border); border-radius: 0.3rem; }`];
  declare server: string | null;
  declare series: Array<{ ts: number; inputTokens: number; outputTokens: number; costUsd: number; ms: number; calls: number }>;
  readonly stores = new ClientController(this, (c) => [c.$usage]);

  constructor() {
    super();
    this.server = null;
    this.series = [];
  }

  override connectedCallback(): void {
    super.connectedCallback();
    this.stores.client
      .request<{ series: UsageChart['series'] }>('/api/usage')
      .then((u) => (this.series = u.series))
      .catch(() => undefined);
  }

  override render() {
    const since = this.series.length ? this.series[this.series.length - 1].ts + 60_000 : 0;
    // Live calls after the last per-minute bucket the server reported, one point each.
    const live = this.stores.client.$usage.get().filter((u) => u.ts >= since);
    const points = [...this.series.map((s) => ({ ts: s.ts, tokens: s.inputTokens + s.outputTokens, cost: s.costUsd, ms: s.calls ? s.ms / s.calls : 0 })), ...live.map((u) => ({ ts: u.ts, tokens: u.inputTokens + u.outputTokens, cost: u.costUsd ?? 0, ms: u.ms }))];
    let tokens = 0;
    let cost = 0;
    return html`<div data-points=${points.length}>
      ${lineChart(points.map((p) => [p.ts, (tokens += p.tokens)]), 'tokens', 'total')}
      ${lineChart(points.map((p) => [p.ts, (cost += p.cost)]), 'cost', 'USD total')}
      ${lineChart(points.map((p) => [p.ts, p.ms]), 'latency', 'ms')}
    </div>`;
  }
}

/** The server process: CPU %, memory, load and uptime from GET /api/machine every 2 s, with a short CPU trail. */
export class MachineStats extends LitElement {
  static override properties = { server: { type: String }, stats: { state: true } };
  static override styles = [theme, css`:host { display: block; color: var(--_ok); } dl { display: grid; grid-template-columns: auto 1fr; gap: 0.2rem 0.8rem; margin: 0; color: var(--_fg); } dd { margin: 0; font-variant-numeric: tabular-nums; } svg { width: 100%; height: 3rem; background: var(--_bg); border: 1px solid var(--_border); border-radius: 0.3rem; }`];
  declare server: string | null;
  declare stats: { cpuPercent: number; cpus: number; memory: { rss: number; heapUsed: number; heapTotal: number }; system: { loadavg: number[] }; uptimeSec: number } | null;
  readonly stores = new ClientController(this, () => []);
  private cpu: Array<[number, number]> = [];
  private timer: ReturnType<typeof setInterval> | null = null;

  constructor() {
    super();
    this.server = null;
    this.stats = null;
  }

  override connectedCallback(): void {
    super.connectedCallback();
    void this.load();
    this.timer = setInterval(() => void this.load(), 2_000);
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    if (this.timer) clearInterval(this.timer);
  }

  private async load(): Promise<void> {
    try {
      const s = await this.stores.client.request<NonNullable<MachineStats['stats']> & { ts: number }>('/api/machine');
      this.cpu = [...this.cpu, [s.ts, s.cpuPercent] as [number, number]].slice(-60);
      this.stats = s;
    } catch {
      // The connection status already says the server is away.
    }
  }

  override render() {
    const s = this.stats;
    if (!s) return html`<p class="muted">loading…</p>`;
    const mb = (n: number) => `${(n / 1024 / 1024).toFixed(0)} MB`;
    return html`<dl>
        <dt>CPU</dt><dd class="cpu">${s.cpuPercent.toFixed(1)} % <span class="muted">of one core (${s.cpus} cores)</span></dd>
        <dt>memory</dt><dd class="rss">${mb(s.memory.rss)} rss · heap ${mb(s.memory.heapUsed)} / ${mb(s.memory.heapTotal)}</dd>
        <dt>load</dt><dd>${s.system.loadavg.map((l) => l.toFixed(2)).join(' ')}</dd>
        <dt>uptime</dt><dd class="uptime">${s.uptimeSec} s</dd>
      </dl>${this.cpu.length > 1 ? lineChart(this.cpu, 'cpu', '%') : ''}`;
  }
}

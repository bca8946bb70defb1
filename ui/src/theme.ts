import { css } from 'lit';

/**
 * Shared look. Every colour and size is a CSS custom property with a default, so a page that embeds a
 * component restyles it from outside: `orchestrator-dashboard { --orch-bg: white; --orch-fg: black; }`.
 */
export const theme = css`
  :host {
    --_bg: var(--orch-bg, #0f1115);
    --_card: var(--orch-card, #171a21);
    --_fg: var(--orch-fg, #e6e6e6);
    --_muted: var(--orch-muted, #9aa0aa);
    --_border: var(--orch-border, #2a2f3a);
    --_ok: var(--orch-ok, #3fb950);
    --_work: var(--orch-work, #d29922);
    --_bad: var(--orch-bad, #f85149);
    --_accent: var(--orch-accent, #58a6ff);
    --_radius: var(--orch-radius, 0.5rem);
    --_mono: var(--orch-mono, ui-monospace, SFMono-Regular, Menlo, Consolas, monospace);
    color: var(--_fg);
    font: var(--orch-font, 14px/1.45 system-ui, sans-serif);
    box-sizing: border-box;
  }
  *, *::before, *::after { box-sizing: inherit; }
  h2, h3 { margin: 0 0 0.5rem; font-size: 1rem; }
  button, select, input, textarea { font: inherit; color: inherit; background: var(--_bg); border: 1px solid var(--_border); border-radius: 0.25rem; padding: 0.3rem 0.6rem; }
  button { cursor: pointer; }
  button:disabled { opacity: 0.5; cursor: not-allowed; }
  :focus-visible { outline: 2px solid var(--_accent); outline-offset: 2px; }
  .muted { color: var(--_muted); }
  .ok, .ready, .completed { color: var(--_ok); }
  .working, .running, .restarting, .queued, .reconnecting, .connecting { color: var(--_work); }
  .failed, .cancelled, .disconnected, .error { color: var(--_bad); }
  .sr-only { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
  table { width: 100%; border-collapse: collapse; }
  th, td { text-align: left; padding: 0.25rem 0.4rem; border-bottom: 1px solid var(--_border); vertical-align: top; }
`;

export function clock(ts: number): string {
  return new Date(ts).toLocaleTimeString([], { hour12: false });
}

// Debian's chromium (apt, installed by .ci/run) driven by playwright-core: never a downloaded browser.
import { existsSync, mkdirSync, copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import type { Browser, Page } from 'playwright-core';
import { ROOT } from '../helpers/server.ts';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const SHOTS = join(ROOT, 'test/ui/screenshots');
const DOCS_SHOTS = join(ROOT, 'docs/screenshots');

export async function launch(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium; .ci/run does it)`);
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // playwright-core passes its own fresh --user-data-dir; these keep chromium off the (closed) network.
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
  });
}

/** Fails the test on any page error or console error the test did not expect. */
export function watchErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(`pageerror: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(`console: ${message.text()}`);
  });
  return errors;
}

/**
 * A screenshot into test/ui/screenshots (gitignored). With UPDATE_SCREENSHOTS=1 it is also copied to
 * docs/screenshots for the README (a test run never dirties the tracked copies by itself).
 */
export async function shot(target: Page | { screenshot(o: { path: string }): Promise<unknown> }, name: string, docs = process.env.UPDATE_SCREENSHOTS === '1'): Promise<void> {
  mkdirSync(SHOTS, { recursive: true });
  const path = join(SHOTS, `${name}.png`);
  await target.screenshot({ path, ...('goto' in target ? { fullPage: true } : {}) } as { path: string });
  if (docs) {
    mkdirSync(DOCS_SHOTS, { recursive: true });
    copyFileSync(path, join(DOCS_SHOTS, `${name}.png`));
  }
}

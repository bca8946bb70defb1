/**
 * `runtime demo`: the sample requirements demo mode answers, and how to leave demo mode. Reads the
 * bundled transcripts; needs no server.
 * @module
 */
import { demoSamples } from '../llm/mod.ts';
import { Exit, parseCommand, printJson, table } from './_output.ts';
import type { Command } from './_output.ts';

const HELP = `runtime demo — the sample requirements demo mode answers (no model, no key)

Usage:
  runtime demo [--json]

With no provider key the server runs in demo mode: bundled transcripts answer these requirements, and
only these; any other is refused before a task exists (422), naming them and how to configure a model.

Options:
  --json   print [{ id, title, requirement }] as JSON

Examples:
  runtime demo
  runtime demo --json
`;

export const demoCommand: Command = {
  name: 'demo',
  summary: 'the sample requirements demo mode answers (no key needed)',
  help: HELP,
  async run(argv) {
    const args = parseCommand(argv, demoCommand, { json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } });
    if (!args) return Exit.Ok;
    const samples = demoSamples();
    if (args.values.json) return printJson(samples), Exit.Ok;
    console.log('Demo mode (no provider key set) answers these sample requirements; no model is called:\n');
    console.log(table([['ID', 'TITLE', 'REQUIREMENT'], ...samples.map((s) => [s.id, s.title, s.requirement])]));
    console.log(`\nTry one:  npx runtime submit ${JSON.stringify(samples[0]?.requirement ?? '')} --wait`);
    console.log('Your own requirements need a model: set ANTHROPIC_API_KEY, OPENAI_API_KEY or DEEPSEEK_API_KEY (in .env), or add a local');
    console.log('OpenAI-compatible server (Ollama, llama.cpp, vLLM, LM Studio) under "providers" in orchestrator.config.json; then restart.');
    return Exit.Ok;
  },
};

// The `runtime` command (bin.js runs this file; so can Deno: deno run -A runtime/cli/main.ts start).
import { main } from './_commands.ts';

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error) => {
    console.error(`runtime: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  },
);

// spec/e2e/lib/tap.mjs — a tiny TAP reporter: the plan first, one line per
// scenario ("ok N - name" / "not ok N - name"), failure details as YAML-ish
// comments. scripts/lib/e2e.sh turns it into "# e2e: N passed, M failed".
export class Tap {
  constructor(out = process.stdout) { this.out = out; this.n = 0; this.passed = 0; this.failed = 0; }
  plan(count) { this.write(`TAP version 13\n1..${count}`); }
  ok(name, ms) { this.n++; this.passed++; this.write(`ok ${this.n} - ${name} # ${fmt(ms)}`); }
  notOk(name, ms, err) {
    this.n++; this.failed++;
    this.write(`not ok ${this.n} - ${name} # ${fmt(ms)}`);
    const msg = String(err && (err.stack || err.message) || err).split('\n').slice(0, 12);
    this.write(['  ---', ...msg.map((l) => `  # ${l}`), '  ...'].join('\n'));
  }
  comment(text) { for (const l of String(text).split('\n')) this.write(`# ${l}`); }
  write(s) { this.out.write(s + '\n'); }
}
function fmt(ms) { return `${(ms / 1000).toFixed(1)}s`; }

// The editor benchmark's person in a real VS Code (driver.mjs --measure SPEC.json): types passages at a fixed
// cadence, Enter and a pause at each line end, and reads the ghost text in the DOM just before each next key.
// benchmarks/editor/typist.py does the same in Neovim; `python -m benchmarks.vscode` writes SPEC.json and scores
// what this returns with benchmarks/editor/scoring.py, so both editors are judged by one code.
//
// SPEC: { workspace, cadenceMs, pauseMs, settings, passages: [{ name, module, shows, row, indent,
//         keys: [{ char, nextIndent }] }] }   (row: 0-based line where the passage goes back; '\n' is Enter)
// Returns { passages: [{ name, seconds, quietWaitS, readings: [{ index, first, below, line, focused, elsewhere,
//           t }] }] }: `line` is the cursor's line as the DOM shows it (the scorer compares it with what was typed).
import * as fs from 'node:fs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// The buffer must hold exactly what was typed (as in Neovim's typist, whose auto-indent and comment leaders are
// off): the indentation comes with the Enter in one input, nothing is closed, formatted or re-indented for us.
// Popups that could take keys or cover the line are off; inline suggestions stay as codehearth's defaults show them.
export const MEASURE_EDITOR_SETTINGS = {
  'editor.autoIndent': 'none',
  'editor.formatOnType': false,
  'editor.formatOnPaste': false,
  'editor.autoSurround': 'never',
  'editor.autoClosingOvertype': 'never',
  'editor.autoClosingDelete': 'never',
  'editor.autoClosingComments': 'never',
  'editor.trimAutoWhitespace': false,
  'editor.linkedEditing': false,
  'editor.tabCompletion': 'off',
  'editor.parameterHints.enabled': false,
  'editor.hover.enabled': false,
  'editor.lightbulb.enabled': 'off',
  'editor.codeLens': false,
  'editor.inlayHints.enabled': 'off',
  'editor.stickyScroll.enabled': false, // its copies of the lines above are not the cursor's line
  'editor.renderWhitespace': 'none',
  'editor.wordWrap': 'off',
};

/** What the person sees now: the ghost text on the cursor's line and under it, and the cursor's line itself. */
function lookInPage() {
  const clean = (t) => (t || '').replace(/\u00a0/g, ' ');
  const ed = document.querySelector('.monaco-editor.focused')
    ?? document.querySelector('.editor-instance .monaco-editor');
  if (!ed) {
    return { first: '', below: [], line: null, focused: false, elsewhere: false };
  }
  const ghostSel = '.ghost-text-decoration, .ghost-text-decoration-preview';
  const cursor = ed.querySelector('.cursors-layer .cursor');
  const top = cursor ? parseFloat(cursor.style.top) : NaN;
  // The cursor's line is the view line at the cursor's height (both are placed in the same scrolled layer).
  const line = [...ed.querySelectorAll('.view-lines .view-line')].find((l) => Math.abs(parseFloat(l.style.top) - top) < 1);
  let first = '';
  let text = null;
  if (line) {
    const clone = line.cloneNode(true);
    const ghosts = [...clone.querySelectorAll(ghostSel)];
    first = ghosts.map((e) => e.textContent).join('');
    ghosts.forEach((e) => e.remove());
    text = clone.textContent;
  }
  const ghostLine = ed.querySelector('.view-lines .view-line .ghost-text-decoration')?.closest('.view-line');
  return {
    first: clean(first),
    below: [...ed.querySelectorAll('.ghost-text .view-line')].map((e) => clean(e.textContent)),
    line: text === null ? null : clean(text),
    focused: ed.classList.contains('focused'),
    elsewhere: Boolean(ghostLine && ghostLine !== line), // ghost text on another line than the cursor's
  };
}

function cpuTicks(pids) {
  let total = 0;
  for (const pid of pids) {
    try {
      const fields = fs.readFileSync(`/proc/${pid}/stat`, 'latin1').split(')').pop().trim().split(/\s+/);
      total += Number(fields[11]) + Number(fields[12]);
    } catch {
      // gone
    }
  }
  return total;
}

/** Waits until the server uses under 5% of a core for 1.5 s (as typist.wait_quiet); returns the seconds waited. */
async function waitQuiet(pids, share = 0.05, windowMs = 1500, limitMs = 20_000) {
  const start = Date.now();
  while (Date.now() - start < limitMs) {
    const before = cpuTicks(pids);
    await sleep(windowMs);
    if ((cpuTicks(pids) - before) / 100 < share * (windowMs / 1000)) { // USER_HZ is 100 on Linux
      break;
    }
  }
  return Math.round((Date.now() - start) / 100) / 10;
}

/** An empty line at 0-based `row`, the cursor on it, the passage's first indentation typed. */
async function begin(page, passage) {
  await page.keyboard.press('Control+G');
  const input = page.locator('.quick-input-widget input');
  await input.waitFor({ state: 'visible', timeout: 10_000 });
  await input.fill(`:${passage.row + 1}:1`);
  await sleep(300);
  await page.keyboard.press('Enter');
  await input.waitFor({ state: 'hidden', timeout: 10_000 });
  await page.keyboard.insertText('\n');
  await page.keyboard.press('ArrowUp');
  await page.keyboard.press('Home'); // column 1 even if the editor kept another one
  if (passage.indent) {
    await page.keyboard.insertText(passage.indent);
  }
}

async function typePassage(page, passage, cadenceMs, pauseMs) {
  const started = Date.now();
  await begin(page, passage);
  const t0 = Date.now();
  let due = t0 + pauseMs;
  const readings = [];
  for (const [index, key] of passage.keys.entries()) {
    const delay = due - Date.now();
    if (delay > 0) {
      await sleep(delay);
    }
    const seen = await page.evaluate(lookInPage);
    readings.push({ index, ...seen, t: (Date.now() - t0) / 1000 });
    if (key.char === '\n') {
      await page.keyboard.press('Enter'); // autoIndent is off: the indentation comes with it, in one go
      if (key.nextIndent) {
        await page.keyboard.insertText(key.nextIndent);
      }
      due = Date.now() + pauseMs;
    } else {
      await page.keyboard.type(key.char);
      due = Date.now() + cadenceMs;
    }
  }
  await sleep(cadenceMs);
  await page.keyboard.press('Escape');
  return { name: passage.name, seconds: Math.round((Date.now() - started) / 100) / 10, readings };
}

/** Types every passage of SPEC in order (passages of one file top to bottom, as the benchmark lists them). */
export async function measure(spec, { page, log, openFile, serverPids }) {
  const out = { passages: [] };
  let open = spec.passages[0].module; // the driver opened it
  for (const passage of spec.passages) {
    if (passage.module !== open) {
      await openFile(passage.module, passage.shows);
      open = passage.module;
    }
    const quietWaitS = await waitQuiet(serverPids());
    const typed = await typePassage(page, passage, spec.cadenceMs, spec.pauseMs);
    const shown = typed.readings.filter((r) => r.first.trim()).length;
    log(`typed ${passage.name}: ${typed.readings.length} keys in ${typed.seconds} s, ghost text before ${shown}`);
    out.passages.push({ ...typed, quietWaitS });
  }
  return out;
}

/** src/cli/progress.ts: the batch command's progress bar. */
import { Progress } from '../../src/cli/progress';

describe('Progress', () => {
  const stream = (isTTY: boolean) => {
    const out: string[] = [];
    return { out, stream: { isTTY, write: (s: string) => out.push(s) } as unknown as NodeJS.WriteStream };
  };

  it('draws a bar in place on a terminal: done/total, rate, ETA, errors; left complete on its own line', () => {
    const { out, stream: s } = stream(true);
    const state = { done: 0, errors: 0, total: 8 };
    const progress = new Progress(state, 'bar', s, 1000);
    progress.start(0);
    state.done = 4;
    state.errors = 1;
    progress.stop();
    const drawn = out.join('');
    expect(drawn.startsWith('\r[############............] 4/8')).toBe(true);
    expect(drawn).toMatch(/ 4\/8 {2}50 % {2}[\d,]+\/s {2}ETA \d+:\d\d {2}1 error/);
    expect(drawn.endsWith('\u001b[K\n')).toBe(true);
  });

  it('says nothing when quiet', () => {
    const { out, stream: s } = stream(false);
    const progress = new Progress({ done: 3, errors: 0 }, 'none', s, 1);
    progress.start(0);
    progress.stop();
    expect(out).toEqual([]);
  });
});

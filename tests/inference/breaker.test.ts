/**
 * CircuitBreaker (src/inference/breaker.ts): after `threshold` failures in a row guarded calls
 * fail at once (CircuitOpen) without being made, until the probe finds the server back.
 */
import { CircuitBreaker, CircuitOpen } from '../../src/inference/breaker';
import { withRetry } from '../../src/inference/retry';
import { sleep, until } from '../helpers/async';

interface Events {
  failures: number;
  opened: number;
  closed: number;
}

/** A breaker whose probe answers `back()`, its events counted. Stopped after each test. */
const made: CircuitBreaker[] = [];
function breaker(threshold: number, back: () => Promise<boolean> = async () => false): { b: CircuitBreaker; events: Events } {
  const events: Events = { failures: 0, opened: 0, closed: 0 };
  const b = new CircuitBreaker({
    threshold,
    probeMs: 5,
    probe: back,
    onFailure: () => void events.failures++,
    onOpen: () => void events.opened++,
    onClose: () => void events.closed++,
  });
  made.push(b);
  return { b, events };
}
afterEach(() => {
  for (const b of made.splice(0)) b.stop();
});

/** A call to a server that is down (rejects) or up (answers its status), counting the calls made. */
function server(): { up: boolean; status: number; calls: number; call: () => Promise<{ status: number }> } {
  const s = {
    up: false,
    status: 200,
    calls: 0,
    call: async () => {
      s.calls++;
      if (!s.up) throw new Error('connection refused');
      return { status: s.status };
    },
  };
  return s;
}

/** What a call rejected with (the rejection itself, not as the app would answer it). */
const settle = <T>(p: Promise<T>): Promise<T | unknown> => p.catch((e: unknown) => e);

describe('CircuitBreaker', () => {
  it('opens after threshold rejections in a row: the next guarded call fails with CircuitOpen and is not made', async () => {
    const { b, events } = breaker(3);
    const s = server();
    const call = b.watch(b.guard(s.call));
    for (let i = 0; i < 3; i++) expect(await settle(call())).toEqual(new Error('connection refused'));
    expect(b.isOpen).toBe(true);
    expect(events).toEqual({ failures: 3, opened: 1, closed: 0 });
    expect(await settle(call())).toBeInstanceOf(CircuitOpen);
    expect(s.calls).toBe(3);
    expect(events.failures).toBe(3); // CircuitOpen itself is not a failure of the server
  });

  it('a success in between starts the count again: failures not in a row never open it', async () => {
    const { b } = breaker(3);
    const s = server();
    const call = b.watch(b.guard(s.call));
    for (const up of [false, false, true, false, false, true, false, false]) {
      s.up = up;
      await settle(call());
    }
    expect(b.isOpen).toBe(false);
  });

  it('answers isFailure calls failures (e.g. 5xx) count like rejections; other answers are successes', async () => {
    const { b } = breaker(2);
    const s = server();
    s.up = true;
    s.status = 500;
    const call = b.watch(b.guard(s.call), (r) => r.status >= 500);
    await expect(call()).resolves.toEqual({ status: 500 });
    await call();
    expect(b.isOpen).toBe(true);
  });

  it('the probe closes the circuit as soon as the server is back; calls are made again', async () => {
    let back = false;
    let probes = 0;
    const { b, events } = breaker(1, async () => {
      probes++;
      if (probes === 1) throw new Error('still refused'); // a rejecting probe is "not yet"
      return back;
    });
    const s = server();
    const call = b.watch(b.guard(s.call));
    await settle(call());
    expect(b.isOpen).toBe(true);
    // Probes repeat while the server refuses (waited for, not timed: a loaded machine delays timers).
    await until(() => probes > 1, 2000);
    expect(b.isOpen).toBe(true);
    back = true;
    s.up = true;
    await until(() => !b.isOpen, 1000);
    expect(events.closed).toBe(1);
    await expect(call()).resolves.toEqual({ status: 200 });
    expect(s.calls).toBe(2);
  });

  it('after stop() failures no longer open it and no probe runs', async () => {
    let probes = 0;
    const { b, events } = breaker(1, async () => {
      probes++;
      return true;
    });
    b.stop();
    b.failure();
    b.failure();
    await sleep(20);
    expect(b.isOpen).toBe(false);
    expect(events.opened).toBe(0);
    expect(probes).toBe(0);
  });

  it('around retries: a call counts once after its retries; a circuit opened meanwhile stops its retries', async () => {
    const { b, events } = breaker(2);
    const s = server();
    const call = b.watch(withRetry(b.guard(s.call), { retries: 2, backoffMs: 1, retryError: (e) => !(e instanceof CircuitOpen) }));
    await settle(call());
    expect(s.calls).toBe(3);
    expect(events.failures).toBe(1);
    expect(b.isOpen).toBe(false);

    // Another caller's failure opens the circuit while this call waits for its retry.
    const slow = b.watch(withRetry(b.guard(s.call), { retries: 2, backoffMs: 20, retryError: (e) => !(e instanceof CircuitOpen) }));
    const pending = settle(slow());
    b.failure();
    expect(b.isOpen).toBe(true);
    expect(await pending).toBeInstanceOf(CircuitOpen);
    expect(s.calls).toBe(4);
  });
});

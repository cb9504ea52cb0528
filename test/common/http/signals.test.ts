import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { installSignalHandlers } from '../../../services/common/http/signals.ts';

// SIGUSR2 stands in for SIGTERM/SIGINT so the test process itself is never asked to stop.
const SIGNAL = 'SIGUSR2';

function fakeNode(result: 'ok' | 'fail' = 'ok') {
  let closes = 0;
  let finish: () => void = () => {};
  const node = {
    close: () => {
      closes += 1;
      return new Promise<void>((resolve, reject) => {
        finish = result === 'ok' ? resolve : () => reject(new Error('release failed'));
      });
    },
  };
  return { node, closes: () => closes, finish: () => finish() };
}

async function settle(): Promise<void> {
  await new Promise((resolve) => setImmediate(resolve));
}

describe('installSignalHandlers', () => {
  it('closes the node on the signal and exits 0 once it has closed', async () => {
    const fake = fakeNode();
    const exits: number[] = [];
    const uninstall = installSignalHandlers(fake.node, {
      exit: (code) => exits.push(code),
      signals: [SIGNAL],
    });
    try {
      process.emit(SIGNAL, SIGNAL);
      assert.equal(fake.closes(), 1);
      await settle();
      assert.deepEqual(exits, [], 'waits for close()');
      fake.finish();
      await settle();
      assert.deepEqual(exits, [0]);
    } finally {
      uninstall();
    }
  });

  it('exits at once on a second signal while closing, and 1 when closing fails', async () => {
    const fake = fakeNode('fail');
    const exits: number[] = [];
    const uninstall = installSignalHandlers(fake.node, {
      exit: (code) => exits.push(code),
      signals: [SIGNAL],
    });
    try {
      process.emit(SIGNAL, SIGNAL);
      process.emit(SIGNAL, SIGNAL);
      assert.deepEqual(exits, [130]);
      assert.equal(fake.closes(), 1);
      const logged = console.error;
      console.error = () => {};
      try {
        fake.finish();
        await settle();
      } finally {
        console.error = logged;
      }
      assert.deepEqual(exits, [130, 1]);
    } finally {
      uninstall();
    }
  });

  it('removes its listeners when uninstalled', () => {
    const before = process.listenerCount(SIGNAL);
    const uninstall = installSignalHandlers(fakeNode().node, { exit: () => {}, signals: [SIGNAL] });
    assert.equal(process.listenerCount(SIGNAL), before + 1);
    uninstall();
    assert.equal(process.listenerCount(SIGNAL), before);
  });
});

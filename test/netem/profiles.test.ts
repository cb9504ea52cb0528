import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LINK_PROFILES, profileDirections, tcNetem } from '../../services/netem/profiles.ts';

describe('link profiles', () => {
  it('every profile has a source and splits its round trip evenly', () => {
    for (const profile of Object.values(LINK_PROFILES)) {
      assert.ok(profile.source.length > 10, profile.name);
      const { up, down } = profileDirections(profile);
      assert.equal(up.delayMs + down.delayMs, profile.rttMs);
      assert.equal(up.bandwidthMbps, profile.uplinkMbps);
      assert.equal(down.bandwidthMbps, profile.downlinkMbps);
    }
  });

  it('gives the tc netem line for each direction', () => {
    assert.equal(
      tcNetem(LINK_PROFILES.lte!, 'up'),
      'tc qdisc add dev <interface> root netem delay 25ms 8ms distribution normal rate 10mbit',
    );
    assert.equal(
      tcNetem(LINK_PROFILES['on-device']!, 'down'),
      'tc qdisc add dev <interface> root netem delay 0ms',
    );
  });
});

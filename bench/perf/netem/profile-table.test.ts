/**
 * docs/netem.md's profile tables are the code's: the generated section in the doc is
 * exactly what profile-table.ts prints from services/netem/profiles.ts.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { LINK_PROFILES, tcNetem } from '../../../services/netem/profiles.ts';
import {
  NETEM_DEFAULT_LIMIT,
  profileSection,
  queuedPackets,
  sectionOf,
  suggestedLimit,
} from './profile-table.ts';

describe('the profile tables of docs/netem.md', () => {
  it('match the profiles, their sources and tcNetem (regenerate with profile-table.ts)', async () => {
    const doc = await readFile(new URL('../../../docs/netem.md', import.meta.url), 'utf8');
    const section = sectionOf(doc);
    assert.ok(section !== null, 'docs/netem.md has no generated profile section');
    assert.equal(section, profileSection());
  });

  it('give every profile both directions, with the line tcNetem writes', () => {
    const section = profileSection();
    for (const profile of Object.values(LINK_PROFILES)) {
      for (const direction of ['up', 'down'] as const) {
        assert.ok(section.includes(`\`${tcNetem(profile, direction)}\``), profile.name);
      }
      assert.ok(section.includes(profile.source), `${profile.name}: source`);
    }
  });

  it('counts the packets netem holds at the rate and when its default limit is too small', () => {
    // 1000 Mbit/s for 18 ms is 2.25 MB: 1,500 packets of 1,500 bytes.
    assert.equal(queuedPackets(15, 1, 1000), 1500);
    assert.equal(queuedPackets(15, 1, null), null);
    assert.equal(suggestedLimit(1500), 3000);
    assert.equal(suggestedLimit(NETEM_DEFAULT_LIMIT / 2), null);
    assert.equal(suggestedLimit(null), null);
  });
});

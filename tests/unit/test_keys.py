from inventory.keys import PREFIX_LENGTH, generate_key, hash_key, key_matches


def test_generated_keys_are_unique_and_carry_their_prefix():
    first, second = generate_key(), generate_key()
    assert first.raw != second.raw
    assert first.raw.startswith("chm_")
    assert first.prefix == first.raw[:PREFIX_LENGTH]


def test_only_the_right_key_matches_the_hash():
    new = generate_key()
    assert new.hashed == hash_key(new.raw)
    assert new.raw not in new.hashed
    assert key_matches(new.raw, new.hashed)
    assert not key_matches(new.raw + "x", new.hashed)

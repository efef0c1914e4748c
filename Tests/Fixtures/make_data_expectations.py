#!/usr/bin/env python3
"""Prints the literal values pasted into Tests/MakemoreTests/{PythonRandom,Dataset}Tests.swift.

Run from the repository root with CPython 3.11 (`python3 Tests/Fixtures/make_data_expectations.py`).
The municipis cleaning is the reference notebook's rule, with NFD + dropping combining
marks standing in for ICU "Any-Latin; Latin-ASCII" (identical on this file: all
its accented letters are Latin-1).
"""
import csv
import random
import unicodedata


def fnv1a64(data: bytes) -> int:
    h = 0xCBF29CE484222325
    for b in data:
        h ^= b
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def fold(s):
    return ''.join(c for c in unicodedata.normalize('NFD', s) if not unicodedata.combining(c))


def clean_municipi(name):
    name = name.split('/')[0]
    if ',' in name:
        parts = name.split(', ')
        if len(parts) == 2:
            name = parts[1] + ' ' + parts[0]
    name = fold(name).lower()
    for c in '()\'"':
        name = name.replace(c, '')
    return name


def split_counts(words, block_size=3):
    random.seed(42)
    random.shuffle(words)
    n1, n2 = int(0.8 * len(words)), int(0.9 * len(words))
    count = lambda ws: sum(len(w) + 1 for w in ws)
    return count(words[:n1]), count(words[n1:n2]), count(words[n2:])


print('== PythonRandom ==')
r = random.Random(42)
print('seed 42, getrandbits(32) x5:', [r.getrandbits(32) for _ in range(5)])
r = random.Random(42)
print('seed 42, getrandbits k=1,7,32,33,64,64,48:', [r.getrandbits(k) for k in (1, 7, 32, 33, 64, 64, 48)])
r = random.Random(42)
a = list(range(20)); r.shuffle(a)
print('seed 42, shuffle(range(20)):', a)
for seed in (0, -42, 2**40 + 5, 2147483647):
    r = random.Random(seed)
    print(f'seed {seed}, getrandbits(32) x3:', [r.getrandbits(32) for _ in range(3)])
r = random.Random(42)
print('seed 42, _randbelow n=1,2,3,10,100,1000,2**31,2**40+1:',
      [r._randbelow(n) for n in (1, 2, 3, 10, 100, 1000, 2**31, 2**40 + 1)])
r = random.Random(42)
for _ in range(624): r.getrandbits(32)
print('seed 42, outputs 625..627 (after one twist):', [r.getrandbits(32) for _ in range(3)])

print('== municipis ==')
with open('data/municipis.csv', encoding='utf-8', newline='') as f:
    words = [clean_municipi(row['Nom']) for row in csv.DictReader(f)]
print('words:', len(words), 'fnv1a64 of "\\n".join (file order):', hex(fnv1a64('\n'.join(words).encode())))
print('vocab:', repr('.' + ''.join(sorted(set(''.join(words))))))
print('examples train/dev/test:', split_counts(words))
print('first 5 / last 2 shuffled:', words[:5], words[-2:])

print('== names ==')
words = open('data/names.txt', encoding='utf-8').read().splitlines()
print('words:', len(words), 'vocab size:', len(set(''.join(words))) + 1)
print('examples train/dev/test:', split_counts(words))
print('first 5 / last 2 shuffled:', words[:5], words[-2:])

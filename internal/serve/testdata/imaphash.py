#!/usr/bin/env python3
"""Hash every message of an IMAP account, folder by folder, with imaplib.

imaphash.py HOST PORT USER PASSWORD [CAFILE]
With CAFILE the connection is upgraded with STARTTLS, verified against it.
Prints one JSON object: {"folders": {NAME: [sha256 of BODY[], ... by UID]},
"uidvalidity": {NAME: N}}. Folder names are IMAP's (modified UTF-7)."""
import hashlib, imaplib, json, re, ssl, sys

host, port, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
c = imaplib.IMAP4(host, port)
if len(sys.argv) > 5:
    c.starttls(ssl.create_default_context(cafile=sys.argv[5]))
c.login(user, password)
typ, lines = c.list('""', '*')
names = []
for line in lines:
    m = re.match(rb'\((?P<attrs>[^)]*)\) (?P<delim>"[^"]*"|NIL) (?P<name>.*)$', line)
    attrs, name = m.group('attrs').decode(), m.group('name').decode()
    if '\\Noselect' in attrs or '\\NonExistent' in attrs:
        continue
    if name.startswith('"'):
        name = name[1:-1].replace('\\"', '"').replace('\\\\', '\\')
    names.append(name)
out = {"folders": {}, "uidvalidity": {}}
for name in sorted(names):
    typ, data = c.select('"%s"' % name, readonly=True)
    assert typ == 'OK', (name, data)
    typ, uv = c.response('UIDVALIDITY')
    out["uidvalidity"][name] = int(uv[0])
    hashes = []
    if int(data[0]) > 0:
        typ, data = c.uid('FETCH', '1:*', '(UID BODY.PEEK[])')
        assert typ == 'OK', data
        for item in data:
            if isinstance(item, tuple):
                uid = int(re.search(rb'UID (\d+)', item[0]).group(1))
                hashes.append((uid, hashlib.sha256(item[1]).hexdigest()))
    out["folders"][name] = [h for _, h in sorted(hashes)]
c.logout()
json.dump(out, sys.stdout)

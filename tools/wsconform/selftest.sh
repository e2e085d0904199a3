#!/bin/sh
# make wsconform-run: wsconform against servers with planted bugs (tools/wsconform/
# broken_server.py, Python stdlib, written apart from libws). The same server without a bug must
# pass every case of groups 1-7 and 10 (12.1.1 and 13.7.1: UNIMPLEMENTED, it has no
# permessage-deflate); with each bug, exactly the cases Autobahn's rules fail
# must fail, with the verdict they must have -- read back from the reports wsconform writes:
#   no-utf8-check    FAILED: every case expecting a 1007 failure (invalid UTF-8 in text)
#   no-fail-fast     NON-STRICT: 6.4.1-6.4.4 (failed at the message's end, not at the bad byte)
#   echo-close-code  FAILED: 7.3.2, 7.5.1, 7.9.x (an invalid close payload sent back)
#   tcp-first        FAILED (behaviorClose UNCLEAN): every case whose clean close we start
#   wrong-code       FAILED (WRONG CODE): every case whose expected codes lack 1000
# Every other case must be OK or INFORMATIONAL. About 30 s. B=build dir (default build).
set -u
B=${B:-build}
PY=${PY:-/usr/bin/python3}
here=$(cd "$(dirname "$0")" && pwd)
tool=${WSCONFORM:-$B/tools/wsconform}
[ -x "$tool" ] || { echo "wsconform-run: $tool missing (make all)" >&2; exit 2; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/wsconform-run.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
status=0
for bug in none no-utf8-check no-fail-fast echo-close-code tcp-first wrong-code; do
    timeout -k 5 300 "$tool" client 'ws://127.0.0.1:{port}/' \
        --server-cmd "exec $PY $here/broken_server.py --port {port} --bug $bug --lifetime 280" \
        --agent "$bug" --cases '1.*,2.*,3.*,4.*,5.*,6.*,7.*,10.*,12.1.1,13.7.1' --wait-ms 300 \
        --outdir "$tmp/reports" >"$tmp/$bug.log" 2>&1
    rc=$?
    if "$PY" - "$tmp/reports" "$bug" "$rc" <<'PYEOF'
import json, os, sys
outdir, bug, rc = sys.argv[1], sys.argv[2], int(sys.argv[3])
index = json.load(open(os.path.join(outdir, "index.json")))[bug]
def want(case):
    """The verdict the planted bug must give (None: must pass)."""
    cid = case["id"]
    if cid.split(".")[0] in ("12", "13"):  # the server has no permessage-deflate
        return "FAILED" if bug == "tcp-first" else "UNIMPLEMENTED"
    exp = case["expectedClose"]
    codes = exp["closeCode"]
    if bug == "no-utf8-check" and codes == [1007] and not exp["closedByMe"]:
        return "FAILED"
    if bug == "no-fail-fast" and cid.startswith("6.4."):
        return "NON-STRICT"
    if bug == "echo-close-code" and (cid in ("7.3.2", "7.5.1") or cid.startswith("7.9.")):
        return "FAILED"
    if bug == "tcp-first" and exp["closedByMe"] and exp["requireClean"] \
            and case["behavior"] != "INFORMATIONAL":
        return "FAILED"
    if bug == "wrong-code" and 1000 not in codes:
        return "FAILED"
    return None
bad, hit = [], 0
for cid, summary in sorted(index.items()):
    case = json.load(open(os.path.join(outdir, summary["reportfile"])))
    b, bc = summary["behavior"], summary["behaviorClose"]
    w = want(case)
    if w is None:
        if b not in ("OK", "INFORMATIONAL") or bc not in ("OK", "INFORMATIONAL"):
            bad.append("%s: %s / %s, expected a pass (%s; %s)" % (cid, b, bc, case["result"],
                                                                    case["resultClose"]))
        continue
    hit += w != "UNIMPLEMENTED"
    overall = "FAILED" if "FAILED" in (b, bc) or bc in ("WRONG CODE", "UNCLEAN") else b
    if overall != w:
        bad.append("%s: %s / %s, expected %s" % (cid, b, bc, w))
    if bug == "tcp-first" and bc != "UNCLEAN":
        bad.append("%s: behaviorClose %s, expected UNCLEAN" % (cid, bc))
    if bug == "wrong-code" and w == "FAILED" and bc != "WRONG CODE":
        bad.append("%s: behaviorClose %s, expected WRONG CODE" % (cid, bc))
expect_rc = 0 if bug in ("none", "no-fail-fast") else 1
if rc != expect_rc:
    bad.append("exit status %d, expected %d" % (rc, expect_rc))
if bug != "none" and hit == 0:
    bad.append("no case was affected by the bug")
print("%-16s %3d cases, %3d affected by the bug: %s" % (bug, len(index), hit,
      "as expected" if not bad else "%d MISMATCHES" % len(bad)))
for line in bad[:40]:
    print("    " + line)
sys.exit(1 if bad else 0)
PYEOF
    then :; else status=1; tail -n 20 "$tmp/$bug.log"; fi
done
[ $status = 0 ] && echo "wsconform-run: every planted bug found, the clean server passed"
exit $status

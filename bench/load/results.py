"""The summary, the Markdown report and the plot."""

import statistics

from settings import CONFIG_NAMES, TARGET_B_OVER_A, TARGET_B_OVER_C, TARGET_P99_MS, TARGET_REFRESH_PER_S, TARGET_RSS_MB

def median(rows, key):
    return statistics.median(r[key] for r in rows)


def summarise(results, rss):
    summary = {}
    for name, rows in results.items():
        summary[name] = {
            "rps": median(rows, "rps"),
            "p50_ms": median(rows, "p50_ms"),
            "p99_ms": median(rows, "p99_ms"),
            "cpu_us_server": median(rows, "cpu_us_server"),
            "cpu_us_redis": median(rows, "cpu_us_redis"),
            "cpu_us_machine": median(rows, "cpu_us_machine"),
            "rounds_rps": [round(r["rps"]) for r in rows],
            "non_2xx": sum(r["non_2xx"] for r in rows),
            "socket_errors": sum(r["socket_errors"] for r in rows),
            "rss_mib": rss.get(name, 0.0),
        }
    return summary


def report(summary, checks, rss, issued, info, started, args):
    A, B, C = summary.get("A"), summary["B"], summary.get("C")
    b_over_c = B["rps"] / C["rps"] if C else None
    b_over_a = B["rps"] / A["rps"] if A else None
    lines = []
    w = lines.append
    w(f"## {started:%Y-%m-%d} — full-stack load (`bench/load.sh`)")
    w("")
    w(f"Machine: {info['cpus']} CPUs of \"{info['cpu']}\", {info['memory_gib']} GiB, kernel "
      f"{info['kernel']}; {info['versions']['rustc']}, {info['versions']['redis']}, "
      f"Python {info['versions']['python']}. Run started {started:%Y-%m-%d %H:%M %Z}. Load "
      f"generator (wrk), Redis and the servers share the cores.")
    w("")
    w(f"`wrk -t2 -c64 -d{args.duration}s --latency`, {args.rounds} alternating rounds "
      f"(A, B, C, A, B, C, ...); each cell is the median of the rounds; RSS is the peak "
      f"(VmHWM) of the server process over the whole run"
      + (f" (the seed stack: its {rss['C_workers']} uvicorn workers summed)" if C else "")
      + ". CPU µs/req is CPU time (user + "
      f"system, from /proc) over requests served in the round: of the server, of Redis, and "
      f"of the whole machine (wrk, the kernel and anything else running included).")
    w("")
    w("| configuration | requests/s | p50 ms | p99 ms | peak RSS MiB | CPU µs/req: server | Redis | whole machine | rounds (req/s) |")
    w("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for name in ("A", "B", "C"):
        if name not in summary:
            continue
        s = summary[name]
        w(f"| {name}: {CONFIG_NAMES[name]} | {s['rps']:,.0f} | {s['p50_ms']:.2f} | "
          f"{s['p99_ms']:.2f} | {s['rss_mib']:.1f} | {s['cpu_us_server']:.0f} | "
          f"{s['cpu_us_redis']:.0f} | {s['cpu_us_machine']:.0f} | "
          f"{', '.join(f'{x:,}' for x in s['rounds_rps'])} |")
    w("")
    errors = {n: (s["non_2xx"], s["socket_errors"]) for n, s in summary.items()}
    w("Ratios: " + ", ".join(filter(None, [
        f"B/C = **{b_over_c:.1f}×**" if b_over_c else None,
        f"B/A = **{b_over_a:.0%}**" if b_over_a else None,
    ])) + ". Non-2xx / socket errors: " +
      ", ".join(f"{n} {e[0]}/{e[1]}" for n, e in errors.items()) + ".")
    w("")
    req = checks["requests"] or 1
    w(f"B read path, checked over its rounds ({checks['requests']:,.0f} requests): cache hits "
      f"{checks['hits'] / req:.3f} per request, limiter decisions `allowed` "
      f"{checks['allowed'] / req:.3f} per request; Redis commands per request (`INFO "
      f"commandstats` deltas): EVALSHA {checks['evalsha'] / req:.3f}, HGET "
      f"{checks['hget'] / req:.3f}" +
      "".join(f", {c.upper()} {n / req:.3f}" for c, n in sorted(checks["other_commands"].items()))
      + ".")
    w("")
    if issued:
        rf, cc = issued["refresh"], issued["client_credentials"]
        w("| issuance (release auth-issuer, Redis refresh-token store) | grants/s | p50 ms | p99 ms | non-2xx |")
        w("|---|---:|---:|---:|---:|")
        w(f"| refresh_token grants, 64 connections, each token used once | {rf['ok_per_s']:,.0f} | "
          f"{rf['p50_ms']:.2f} | {rf['p99_ms']:.2f} | {rf['non_2xx']} |")
        w(f"| client_credentials grants (confidential client), 2 connections | {cc['ok_per_s']:,.0f} | "
          f"{cc['p50_ms']:.2f} | {cc['p99_ms']:.2f} | {cc['non_2xx']} |")
        w("")
        w("Refresh grants are the issuance path the target names: public client, each refresh "
          "token used exactly once (see `bench/load/refresh.lua`), rotation on Redis, one RS256 "
          "signature each. Client-credentials grants sign the same way but first check the "
          "confidential client's secret with argon2id (19 MiB, at most "
          "`ISSUER_PASSWORD_CONCURRENCY` = 2 at once), so their rate is the argon2id rate, not "
          "the signing rate.")
        w("")
        w(f"Issuer peak RSS {rss['issuer']:.1f} MiB (over the whole run, password grants "
          f"included); Redis {rss['redis']:.1f} MiB.")
        w("")
    w("Targets (issue 10):")
    w("")
    def verdict(ok):
        return "**met**" if ok else "**not met**"
    if b_over_c:
        w(f"- B ≥ {TARGET_B_OVER_C:.0f}× C: {b_over_c:.1f}× — {verdict(b_over_c >= TARGET_B_OVER_C)}")
    if b_over_a:
        w(f"- B ≥ {TARGET_B_OVER_A:.0%} of A: {b_over_a:.0%} — {verdict(b_over_a >= TARGET_B_OVER_A)}")
    w(f"- B p99 ≤ {TARGET_P99_MS:.0f} ms at 64 connections: {B['p99_ms']:.2f} ms — "
      f"{verdict(B['p99_ms'] <= TARGET_P99_MS)}")
    w(f"- data-api RSS ≤ {TARGET_RSS_MB:.0f} MB: {B['rss_mib']:.1f} MiB — "
      f"{verdict(B['rss_mib'] * 1.048576 <= TARGET_RSS_MB)}")
    if issued:
        rf = issued["refresh"]["ok_per_s"]
        w(f"- issuance ≥ {TARGET_REFRESH_PER_S:,.0f} refresh grants/s: {rf:,.0f}/s — "
          f"{verdict(rf >= TARGET_REFRESH_PER_S)}")
    w("")
    w("![throughput and p99 per configuration](load.png)")
    return "\n".join(lines) + "\n", {"B_over_C": b_over_c, "B_over_A": b_over_a}


def plot(summary, issued, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [n for n in ("A", "B", "C") if n in summary]
    short = {"A": "A: bare axum\nhandler", "B": "B: data-api\nfull read path",
             "C": "C: seed stack\n(FastAPI)"}
    labels = [short[n] for n in names]
    colors = {"A": "#8c8c8c", "B": "#1f77b4", "C": "#d62728"}
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    rps = [summary[n]["rps"] for n in names]
    bars = ax1.bar(labels, rps, color=[colors[n] for n in names])
    ax1.set_yscale("log")
    ax1.set_ylabel("requests/s (log scale)")
    ax1.set_title("Throughput, wrk -t2 -c64 (higher is better)")
    for bar, value in zip(bars, rps):
        ax1.annotate(f"{value:,.0f}", (bar.get_x() + bar.get_width() / 2, value),
                     ha="center", va="bottom", fontsize=9)
    p99 = [summary[n]["p99_ms"] for n in names]
    bars = ax2.bar(labels, p99, color=[colors[n] for n in names])
    ax2.set_yscale("log")
    ax2.set_ylabel("p99 latency, ms (log scale)")
    ax2.set_title("p99 latency (lower is better)")
    ax2.axhline(TARGET_P99_MS, color="black", linestyle="--", linewidth=1)
    ax2.annotate(f"target for B: {TARGET_P99_MS:.0f} ms", (0.99, TARGET_P99_MS),
                 xycoords=("axes fraction", "data"), ha="right", va="bottom", fontsize=8)
    for bar, value in zip(bars, p99):
        ax2.annotate(f"{value:.2f}", (bar.get_x() + bar.get_width() / 2, value),
                     ha="center", va="bottom", fontsize=9)
    for ax in (ax1, ax2):
        ax.tick_params(axis="x", labelsize=9)
    subtitle = ""
    if issued:
        subtitle = f"   issuance: {issued['refresh']['ok_per_s']:,.0f} refresh grants/s"
    fig.suptitle(f"Portcullis full-stack load, medians of alternating rounds{subtitle}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)

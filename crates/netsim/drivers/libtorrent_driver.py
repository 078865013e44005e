#!/usr/bin/python3
"""libtorrent driver for the anthill fleet harness (crates/netsim).

Runs one libtorrent session with one torrent, tuned for a LAN of network
namespaces: TCP only (no uTP), no DHT, LSD, UPnP or NAT-PMP, peers come from
the tracker (and PEX). Choking and piece picking are libtorrent's defaults.

  seed  --torrent T --save DIR --listen IP:PORT
        the data is already in DIR; added in seed mode (pieces are trusted).
  get   --torrent T --save DIR --listen IP:PORT --done FILE
        downloads into DIR, creates FILE once every piece is verified,
        then keeps seeding until it is terminated (SIGTERM).

Prints a status line every second to stdout. Needs Debian's python3-libtorrent,
so run it with /usr/bin/python3.
"""

import argparse
import os
import signal
import sys
import time

import libtorrent as lt


def settings(listen):
    return {
        "listen_interfaces": listen,
        "enable_dht": False,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "enable_incoming_utp": False,
        "enable_outgoing_utp": False,
        "user_agent": "anthill-fleet-libtorrent/" + lt.__version__,
        "alert_mask": lt.alert.category_t.error_notification
        | lt.alert.category_t.status_notification
        | lt.alert.category_t.tracker_notification,
    }


def write_marker(path):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write("done\n")
    os.rename(tmp, path)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("mode", choices=["seed", "get"])
    p.add_argument("--torrent", required=True)
    p.add_argument("--save", required=True)
    p.add_argument("--listen", required=True)
    p.add_argument("--done")
    a = p.parse_args()
    if a.mode == "get" and not a.done:
        p.error("get needs --done")

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    ses = lt.session(settings(a.listen))
    atp = lt.add_torrent_params()
    atp.ti = lt.torrent_info(a.torrent)
    atp.save_path = a.save
    if a.mode == "seed":
        atp.flags |= lt.torrent_flags.seed_mode
    h = ses.add_torrent(atp)
    print(f"libtorrent {lt.__version__} {a.mode} {a.torrent} listen {a.listen}", flush=True)

    done = a.mode == "seed"
    last = 0.0
    while True:
        ses.wait_for_alert(200)
        for al in ses.pop_alerts():
            if al.category() & lt.alert.category_t.error_notification or isinstance(
                al, (lt.tracker_reply_alert, lt.tracker_error_alert, lt.torrent_finished_alert)
            ):
                print(f"alert: {al.message()}", flush=True)
        s = h.status()
        if not done and s.is_seeding:
            write_marker(a.done)
            done = True
            print("complete", flush=True)
        now = time.monotonic()
        if now - last >= 1.0:
            last = now
            print(
                f"state={s.state} progress={s.progress * 100:.1f}% "
                f"down={s.download_payload_rate / 1e6:.2f}MB/s up={s.upload_payload_rate / 1e6:.2f}MB/s "
                f"peers={s.num_peers} uploaded={s.total_payload_upload}",
                flush=True,
            )


if __name__ == "__main__":
    main()

# A minimal libtorrent client for interop tests: seeds or leeches one torrent.
# usage: lt_client.py seed|leech TORRENT SAVE_DIR TIMEOUT_SECS
import sys
import time

import libtorrent as lt

mode, torrent, save, timeout = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
ses = lt.session({
    "listen_interfaces": "127.0.0.1:0",
    "enable_dht": False,
    "enable_lsd": False,
    "enable_upnp": False,
    "enable_natpmp": False,
    "allow_multiple_connections_per_ip": True,
    "alert_mask": lt.alert.category_t.error_notification
    | lt.alert.category_t.tracker_notification
    | lt.alert.category_t.status_notification,
})
atp = lt.add_torrent_params()
atp.ti = lt.torrent_info(torrent)
atp.save_path = save
h = ses.add_torrent(atp)
deadline = time.time() + timeout
last = ""
while time.time() < deadline:
    for a in ses.pop_alerts():
        print("alert:", a.what(), a.message(), flush=True)
    s = h.status()
    line = f"state={s.state} progress={s.progress:.3f} peers={s.num_peers} seeding={s.is_seeding}"
    if line != last:
        print(line, flush=True)
        last = line
    if mode == "leech" and s.is_seeding:
        print("DONE", flush=True)
        # Let the completed announce go out before leaving.
        h.force_reannounce()
        time.sleep(1)
        sys.exit(0)
    time.sleep(0.2)
sys.exit(0 if mode == "seed" else 1)

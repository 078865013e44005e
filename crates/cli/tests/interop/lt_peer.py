"""A libtorrent peer for anthill's interop tests.

usage: lt_peer.py seed|leech TORRENT SAVE_DIR [PEER_HOST:PORT]

Prints "port N" once listening. `leech` exits 0 once the torrent is complete
(libtorrent verified every piece), 1 after 60 s; `seed` runs until killed.
A leecher also prints a status line every 2 s and libtorrent's peer and error
alerts as they come, for the test to show when it fails (a seeder does not:
its tests stop reading its output).
"""
import sys
import time

import libtorrent as lt

mode, torrent, save = sys.argv[1], sys.argv[2], sys.argv[3]
peer = sys.argv[4] if len(sys.argv) > 4 else None

s = lt.session({
    "listen_interfaces": "127.0.0.1:0",
    "enable_dht": False,
    "enable_lsd": False,
    "enable_upnp": False,
    "enable_natpmp": False,
    "allow_multiple_connections_per_ip": True,
    # anthill speaks plain BitTorrent over TCP (no MSE encryption, no uTP);
    # without these libtorrent first tries uTP and an encrypted handshake.
    "enable_outgoing_utp": False,
    "enable_incoming_utp": False,
    "out_enc_policy": 2,
    "in_enc_policy": 1,
    # The loop below redials the peer while none is connected, but
    # libtorrent waits min_reconnect_time (60 s) times the failures before
    # dialling a peer again, whatever connect_peer asks: one refused or
    # dropped connection stalled the leecher past its deadline.
    "min_reconnect_time": 1,
    "max_failcount": 100,
    "alert_mask": lt.alert.category_t.error_notification
    | lt.alert.category_t.peer_notification
    | lt.alert.category_t.connect_notification
    | lt.alert.category_t.status_notification,
})
h = s.add_torrent({"ti": lt.torrent_info(torrent), "save_path": save})
print("port", s.listen_port(), flush=True)
deadline = time.time() + 60
connected = False
start = time.time()
last_status = 0.0
while time.time() < deadline or mode == "seed":
    for a in s.pop_alerts():
        if mode == "leech":
            print("%6.2f alert %s: %s" % (time.time() - start, a.what(), a.message()),
                  flush=True)
    st = h.status()
    if mode == "leech" and time.time() - last_status >= 2:
        last_status = time.time()
        print(
            "%6.2f status %s progress %.3f peers %d down %d B/s done %d"
            % (time.time() - start, st.state, st.progress, st.num_peers,
               st.download_rate, st.total_wanted_done),
            flush=True,
        )
    if peer and st.state not in (lt.torrent_status.checking_files, lt.torrent_status.checking_resume_data):
        if not connected or st.num_peers == 0:
            host, port = peer.rsplit(":", 1)
            h.connect_peer((host, int(port)))
            connected = True
    if mode == "leech" and st.is_seeding:
        print("complete", st.total_wanted_done, flush=True)
        sys.exit(0)
    time.sleep(0.2)
print("timeout", h.status().state, h.status().progress, flush=True)
sys.exit(1)

"""A libtorrent peer for anthill's interop tests.

usage: lt_peer.py seed|leech TORRENT SAVE_DIR [PEER_HOST:PORT]

Prints "port N" once listening. `leech` exits 0 once the torrent is complete
(libtorrent verified every piece), 1 after 60 s; `seed` runs until killed.
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
})
h = s.add_torrent({"ti": lt.torrent_info(torrent), "save_path": save})
print("port", s.listen_port(), flush=True)
deadline = time.time() + 60
connected = False
while time.time() < deadline or mode == "seed":
    st = h.status()
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

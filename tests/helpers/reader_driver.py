"""A scripted reader for crash tests: answers a study through the session API in its own process.

usage: reader_driver.py STUDY READER SLOW_AFTER

Prints ``asking ID`` before and ``answered ID`` after each durable answer. After SLOW_AFTER
answers it slows down (the test kills it there, mid-session); 0 means run to the end. At the end
it prints every file the process opened (audit hook), to show the answer key was never read.
"""

import json
import sys
import time

opened = []
sys.addaudithook(lambda event, args: opened.append(str(args[0])) if event == "open" and args else None)

from napari_medsynth.reader_study.session import ReaderSession  # noqa: E402


def main(study, reader, slow_after):
    slow_after = int(slow_after)
    with ReaderSession(study, reader) as session:
        print(f"start {session.n_answered}", flush=True)
        done = 0
        while not session.finished:
            sid = session.current
            session.image()  # look at it, as the widget does
            print(f"asking {sid}", flush=True)
            session.answer("real" if int(sid) % 2 == 0 else "synthetic", stimulus_id=sid)
            print(f"answered {sid}", flush=True)
            done += 1
            if slow_after and done >= slow_after:
                time.sleep(0.05)
    print("opened " + json.dumps(opened), flush=True)
    print("finished", flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])

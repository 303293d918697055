"""The fault schedules the replication property tests draw: cuts, one-way cuts and crashes."""

from hypothesis import strategies as st


def fault_schedules(nodes: list[str]) -> st.SearchStrategy[str]:
    """Up to three partitions, one-way cuts or crashes among ``nodes``, all healed by 2.5 s (text form)."""

    @st.composite
    def schedule(draw) -> str:
        faults = []
        for _ in range(draw(st.integers(0, 3))):
            start = draw(st.integers(0, 2000))
            end = draw(st.integers(start + 1, 2500))
            kind = draw(st.sampled_from(["partition", "one-way", "crash"]))
            if kind == "crash":
                faults.append(f"crash:{draw(st.sampled_from(nodes))}@{start}-{end}")
            else:
                side = draw(st.lists(st.sampled_from(nodes), min_size=1, max_size=2, unique=True))
                rest = [n for n in nodes if n not in side]
                sep = "|" if kind == "partition" else ">"
                faults.append(f"{','.join(side)}{sep}{','.join(rest)}@{start}-{end}")
        return ";".join(faults)

    return schedule()

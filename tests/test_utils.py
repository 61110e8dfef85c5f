

def test_counted_says_one_thing_in_the_singular():
    from ctcasr.utils import counted

    assert [counted(n, "bad manifest line") for n in (0, 1, 2)] == [
        "0 bad manifest lines", "1 bad manifest line", "2 bad manifest lines"]

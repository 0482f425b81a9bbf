#!/usr/bin/env python3
"""Writes a synthetic resident roster CSV in the import template's format.

Every row passes `jiceng import people` validation: GB 11643 ID numbers with correct MOD 11-2 check
characters (unique within the file), sex and birth date consistent with the ID, 11-digit mobile
phones, known population categories, relations and tags. People are grouped into households of 2-4
sharing a 户号 and a street address with building/unit/room; the 小区 column is left empty.

Output depends only on --rows and --seed. Python 3 standard library only.

    python3 bench/gen_roster.py --rows 1000000 --seed 20261125 --out /tmp/roster.csv
    python3 bench/gen_roster.py --rows 1000000 --ids-out ids.txt ...   # also list the ID numbers
"""

import argparse
import csv
import datetime as dt
import random
import sys

HEADER = ["姓名*", "身份证号*", "性别", "出生日期", "联系电话", "人口类别", "户号", "与户主关系", "小区", "楼栋", "单元", "房号", "地址", "标签", "迁入日期"]

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK = "10X98765432"
REGIONS = ("510903", "510922")  # 船山区, and the code of issue still carried by 射洪 residents

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程魏苏吕丁任沈姚卢钟姜崔谭陆范汪廖石金贾夏韦付方邹熊白孟秦邱侯江尹薛闫段雷龙黎史陶贺毛郝顾龚邵万覃武钱戴严欧莫孔向常汤康易乔赖文"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红建国志文辉鹏飞宇浩然思雨欣怡子轩梓涵一诺俊宏晓燕海波春梅德福永清"
STREETS = ["和平东路", "和平西路", "遂州中路", "遂州北路", "明月路", "凯旋路", "育才路", "滨江路", "紫东街", "书院街", "介福路", "府河路", "联盟路", "渠河路", "中央大道"]
TAGS = ["党员", "低保", "残疾人", "退役军人", "特困", "优抚对象", "失业人员", "高龄老人", "空巢老人", "留守儿童"]
KINDS = (("户籍", 70), ("常住", 20), ("流动", 10))
# Household compositions after the head: spouse, then children, occasionally a parent.
SIZES = ((2, 35), (3, 40), (4, 25))

TODAY = dt.date(2026, 1, 1)  # fixed, so the file does not change with the calendar


def check_char(first17: str) -> str:
    return CHECK[sum(int(d) * w for d, w in zip(first17, WEIGHTS)) % 11]


def pick(rng: random.Random, weighted):
    total = sum(w for _, w in weighted)
    x = rng.randrange(total)
    for v, w in weighted:
        if x < w:
            return v
        x -= w
    raise AssertionError


class Ids:
    """Unique ID numbers: region + birth date + 3-digit sequence (odd male, even female) + check."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.used = set()

    def make(self, birth: dt.date, male: bool) -> str:
        while True:
            region = REGIONS[self.rng.randrange(len(REGIONS))]
            seq = self.rng.randrange(1, 1000)
            if (seq % 2 == 1) != male:
                seq = seq + 1 if seq < 999 else seq - 1
            first17 = f"{region}{birth:%Y%m%d}{seq:03d}"
            if first17 not in self.used:
                self.used.add(first17)
                return first17 + check_char(first17)


def birth_between(rng: random.Random, lo: dt.date, hi: dt.date) -> dt.date:
    hi = min(hi, TODAY - dt.timedelta(days=1))
    if hi <= lo:
        return lo
    return dt.date.fromordinal(rng.randrange(lo.toordinal(), hi.toordinal() + 1))


def name(rng: random.Random) -> str:
    n = 1 if rng.random() < 0.3 else 2
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(n))


def phone(rng: random.Random) -> str:
    return "1" + rng.choice("3456789") + f"{rng.randrange(10**9):09d}"


def rows(n: int, seed: int):
    rng = random.Random(seed)
    ids = Ids(rng)
    written = 0
    household = 0
    while written < n:
        household += 1
        size = min(pick(rng, SIZES), n - written)
        hh_no = f"{household:07d}"
        street = STREETS[household % len(STREETS)]
        # Roughly 24 households per street number, as in a block of flats.
        address = f"{street}{household // (24 * len(STREETS)) % 400 + 1}号"
        building = str(household // 6 % 30 + 1)
        unit_no = str(household % 3 + 1)
        room = f"{household // 3 % 18 + 1}0{household % 2 + 1}"
        kind = pick(rng, KINDS)
        moved_in = "" if kind == "户籍" and rng.random() < 0.8 else birth_between(rng, dt.date(2000, 1, 1), dt.date(2025, 12, 1)).isoformat()
        head_birth = birth_between(rng, dt.date(1940, 1, 1), dt.date(1998, 12, 31))
        head_male = rng.random() < 0.6
        members = [("户主", head_birth, head_male)]
        if size >= 2:
            members.append(("配偶", birth_between(rng, head_birth - dt.timedelta(days=5 * 365), head_birth + dt.timedelta(days=5 * 365)), not head_male))
        for _ in range(size - len(members)):
            if rng.random() < 0.15:
                members.append(("父母", birth_between(rng, head_birth - dt.timedelta(days=35 * 365), head_birth - dt.timedelta(days=20 * 365)), rng.random() < 0.5))
            else:
                lo = head_birth + dt.timedelta(days=20 * 365)
                members.append(("子女", birth_between(rng, lo, lo + dt.timedelta(days=18 * 365)), rng.random() < 0.5))
        for relation, birth, male in members:
            tags = []
            if rng.random() < 0.08:
                tags.append(rng.choice(TAGS))
                if rng.random() < 0.2:
                    t = rng.choice(TAGS)
                    if t not in tags:
                        tags.append(t)
            yield [
                name(rng),
                ids.make(birth, male),
                "男" if male else "女",
                birth.isoformat(),
                phone(rng) if rng.random() < 0.85 else "",
                kind,
                hh_no,
                relation,
                "",
                building,
                unit_no,
                room,
                address,
                "、".join(tags),
                moved_in,
            ]
            written += 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=20261125)
    ap.add_argument("--out", default="-", help="output file (default stdout)")
    ap.add_argument("--ids-out", help="also write the ID numbers, one a line, in file order")
    a = ap.parse_args()
    out = sys.stdout if a.out == "-" else open(a.out, "w", encoding="utf-8", newline="")
    ids_out = open(a.ids_out, "w", encoding="ascii") if a.ids_out else None
    w = csv.writer(out, lineterminator="\n")
    w.writerow(HEADER)
    for r in rows(a.rows, a.seed):
        w.writerow(r)
        if ids_out:
            ids_out.write(r[1] + "\n")
    if out is not sys.stdout:
        out.close()
    if ids_out:
        ids_out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

